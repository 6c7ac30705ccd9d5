"""Transcripts as subtitles and plain text: the ``text``, ``srt`` and ``vtt`` response formats."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from tympan.tasks.asr.results import Segment, Transcription

__all__ = ["ResponseFormat", "logprob_entries", "render_text", "word_logprobs"]

ResponseFormat = Literal["json", "text", "srt", "verbose_json", "vtt"]


def _timestamp(seconds: float, decimal: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{millis:03d}"


def render_text(transcription: Transcription, fmt: Literal["text", "srt", "vtt"]) -> str:
    """The transcript as plain text, SubRip or WebVTT (one cue per segment, with its speaker)."""
    if fmt == "text":
        return transcription.text + "\n"
    cues = []
    for number, segment in enumerate(transcription.segments, start=1):
        decimal = "," if fmt == "srt" else "."
        span = f"{_timestamp(segment.start, decimal)} --> {_timestamp(segment.end, decimal)}"
        text = segment.text.strip().replace("-->", "->")
        if segment.speaker is not None:  # diarized: "Name: text" in SRT, a voice tag in VTT
            text = f"{segment.speaker}: {text}" if fmt == "srt" else f"<v {segment.speaker}>{text}"
        cues.append(f"{number}\n{span}\n{text}\n" if fmt == "srt" else f"{span}\n{text}\n")
    header = "WEBVTT\n\n" if fmt == "vtt" else ""
    return header + "\n".join(cues)


def word_logprobs(segments: Sequence[Segment]) -> list[tuple[str, float]]:
    """Each word of ``segments`` with the natural log of Whisper's probability for it (the
    tokens OpenAI reports are Whisper's words here: they carry the probabilities)."""
    return [
        (word.word, math.log(max(word.probability, 1e-12)))
        for segment in segments
        for word in segment.words or []
    ]


def logprob_entries(pairs: Iterable[tuple[str, float]]) -> list[dict[str, Any]]:
    """OpenAI's ``logprobs`` items: ``{"token", "logprob", "bytes"}``."""
    return [
        {"token": token, "logprob": logprob, "bytes": list(token.encode())}
        for token, logprob in pairs
    ]
