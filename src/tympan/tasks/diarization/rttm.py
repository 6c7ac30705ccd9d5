"""Diarization output as RTTM, the NIST format pyannote and dscore read."""

from __future__ import annotations

import re

from tympan.tasks.diarization.pipeline import DiarizationResult

__all__ = ["to_rttm"]


def _token(text: str) -> str:
    return re.sub(r"\s+", "_", text.strip()) or "unknown"


def to_rttm(result: DiarizationResult, file_id: str) -> str:
    """One ``SPEAKER`` line per turn; enrolled speakers appear by name (spaces as ``_``)."""
    uri = _token(file_id)
    return "".join(
        f"SPEAKER {uri} 1 {turn.start:.3f} {turn.end - turn.start:.3f} <NA> <NA> "
        f"{_token(turn.name or turn.speaker)} <NA> <NA>\n"
        for turn in result.segments
    )
