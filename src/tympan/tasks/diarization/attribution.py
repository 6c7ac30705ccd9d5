"""Speakers for timed transcript pieces (segments or words), by maximum overlap with turns.

A piece takes the speaker whose turns cover most of it; a piece no turn overlaps (a word in a
pause the VAD left out) takes the nearest turn's speaker if it is within ``max_gap`` seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol, TypeVar

from tympan.tasks.asr.results import Segment, Transcription, Word
from tympan.tasks.diarization.pipeline import SpeakerTurn

__all__ = ["Timed", "assign_speakers", "label_pieces", "label_transcription", "speaker_at"]


Piece = TypeVar("Piece", Segment, Word)


class Timed(Protocol):
    """Anything with ``start`` and ``end`` seconds (ASR segments, words, ...)."""

    @property
    def start(self) -> float: ...

    @property
    def end(self) -> float: ...


def speaker_at(
    start: float, end: float, turns: Sequence[SpeakerTurn], max_gap: float = 1.0
) -> SpeakerTurn | None:
    """The turn of the speaker who overlaps ``[start, end]`` most (summed over their turns)."""
    overlap: dict[str, float] = {}
    first: dict[str, SpeakerTurn] = {}
    for turn in turns:
        shared = min(end, turn.end) - max(start, turn.start)
        if shared > 0:
            overlap[turn.speaker] = overlap.get(turn.speaker, 0.0) + shared
            first.setdefault(turn.speaker, turn)
    if overlap:
        return first[max(overlap, key=lambda speaker: overlap[speaker])]
    gaps = [(max(turn.start - end, start - turn.end), turn) for turn in turns]
    gap, nearest = min(gaps, key=lambda item: item[0], default=(None, None))
    return nearest if gap is not None and gap <= max_gap else None


def assign_speakers(
    pieces: Sequence[Timed], turns: Sequence[SpeakerTurn], max_gap: float = 1.0
) -> list[SpeakerTurn | None]:
    """``speaker_at`` for each piece, in order."""
    return [speaker_at(piece.start, piece.end, turns, max_gap) for piece in pieces]


def label_pieces(pieces: Sequence[Piece], turns: Sequence[SpeakerTurn]) -> list[Piece]:
    """Copies of transcript ``pieces`` with ``speaker`` (name, else label) and ``speaker_id``."""
    labelled = []
    for piece, turn in zip(pieces, assign_speakers(pieces, turns), strict=True):
        if turn is None:
            labelled.append(replace(piece, speaker=None, speaker_id=None))
        else:
            labelled.append(
                replace(piece, speaker=turn.name or turn.speaker, speaker_id=turn.speaker_id)
            )
    return labelled


def label_transcription(
    transcription: Transcription, turns: Sequence[SpeakerTurn]
) -> Transcription:
    """A transcription whose segments, and words if it has them, carry their speakers."""
    segments = [
        replace(
            segment, words=None if segment.words is None else label_pieces(segment.words, turns)
        )
        for segment in label_pieces(transcription.segments, turns)
    ]
    words = None if transcription.words is None else label_pieces(transcription.words, turns)
    return replace(transcription, segments=segments, words=words)
