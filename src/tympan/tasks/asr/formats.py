"""Transcripts as subtitles and plain text: the ``text``, ``srt`` and ``vtt`` response formats."""

from __future__ import annotations

from typing import Literal

from tympan.tasks.asr.results import Transcription

__all__ = ["ResponseFormat", "render_text"]

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
