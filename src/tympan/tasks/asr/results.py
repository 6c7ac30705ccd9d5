"""What transcription returns: words, segments and the whole transcript (OpenAI's fields)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

__all__ = ["Segment", "Transcription", "Word", "join_chunks"]


@dataclass(frozen=True, slots=True)
class Word:
    """One word with its time in the recording (seconds) and the model's confidence."""

    word: str
    start: float
    end: float
    probability: float
    speaker: str | None = None
    speaker_id: str | None = None


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of text with timestamps, as OpenAI's ``verbose_json`` segments."""

    id: int
    seek: int
    start: float
    end: float
    text: str
    tokens: list[int]
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float
    words: list[Word] | None = None
    speaker: str | None = None
    """With ``diarize``: the enrolled speaker's name, else the diarization label."""
    speaker_id: str | None = None


@dataclass(frozen=True, slots=True)
class Transcription:
    """A whole recording's transcript: OpenAI's ``verbose_json`` body."""

    task: str
    language: str
    duration: float
    text: str
    segments: list[Segment] = field(default_factory=list)
    words: list[Word] | None = None
    language_probability: float | None = None
    """How sure language identification was (``None`` when the language was given or the
    model knows English only)."""


def join_chunks(
    chunk_segments: list[list[Segment]],
    *,
    task: str,
    language: str,
    duration: float,
    with_words: bool,
    language_probability: float | None = None,
) -> Transcription:
    """Number the segments of every chunk in time order and join their text; words stay
    only ``with_words``."""
    segments = [
        replace(segment, id=index, words=segment.words if with_words else None)
        for index, segment in enumerate(s for chunk in chunk_segments for s in chunk)
    ]
    text = "".join(segment.text for segment in segments).strip()
    words = [w for s in segments for w in (s.words or [])] if with_words else None
    return Transcription(
        task, language, round(duration, 3), text, segments, words, language_probability
    )
