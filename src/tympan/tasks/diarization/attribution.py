"""Speakers for timed transcript pieces (segments or words), by maximum overlap with turns.

A piece takes the speaker whose turns cover most of it; a piece no turn overlaps (a word in a
pause the VAD left out) takes the nearest turn's speaker if it is within ``max_gap`` seconds.
With word times, attribution is per word and a segment whose words belong to several speakers
is split where the speaker changes, so no segment (and no subtitle cue) mixes two voices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol, TypeVar

from tympan.tasks.asr.results import Segment, Transcription, Word
from tympan.tasks.diarization.pipeline import SpeakerTurn

__all__ = [
    "Timed",
    "assign_speakers",
    "label_pieces",
    "label_transcription",
    "speaker_at",
    "split_at_speaker_changes",
]


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


def _speaker_runs(words: Sequence[Word]) -> list[list[Word]]:
    """Consecutive words of one speaker; a word no turn reached stays with the run before it
    (or after it, at the start) instead of opening a speakerless run."""
    runs: list[list[Word]] = []
    for word in words:
        if runs and (word.speaker is None or word.speaker == runs[-1][-1].speaker):
            runs[-1].append(word)
        elif runs and runs[-1][-1].speaker is None:
            runs[-1] = [
                replace(w, speaker=word.speaker, speaker_id=word.speaker_id) for w in runs[-1]
            ] + [word]
        else:
            runs.append([word])
    return runs


def split_at_speaker_changes(segment: Segment) -> list[Segment]:
    """A segment with speaker-labelled words as one segment per speaker run.

    Each piece takes its run's speaker, text and word times (the first piece keeps the
    segment's start, the last its end). Token ids are kept only when the segment is not split:
    Whisper's tokens do not map one to one onto words.
    """
    if not segment.words:
        return [segment]
    runs = _speaker_runs(segment.words)
    if len(runs) == 1:
        run = runs[0]
        return [replace(segment, words=run, speaker=run[0].speaker, speaker_id=run[0].speaker_id)]
    pieces = []
    for number, run in enumerate(runs):
        pieces.append(
            replace(
                segment,
                start=segment.start if number == 0 else run[0].start,
                end=segment.end if number == len(runs) - 1 else run[-1].end,
                text="".join(word.word for word in run),
                tokens=[],
                words=run,
                speaker=run[0].speaker,
                speaker_id=run[0].speaker_id,
            )
        )
    return pieces


def label_transcription(
    transcription: Transcription, turns: Sequence[SpeakerTurn], *, keep_words: bool = True
) -> Transcription:
    """A transcription whose words and segments carry their speakers.

    Segments with word times are labelled word by word and split at speaker changes; segments
    without take the speaker who covers most of them. ``keep_words=False`` drops the word
    lists afterwards (callers that asked for words only to attribute them).
    """
    segments = []
    for segment in transcription.segments:
        if segment.words:
            labelled = replace(segment, words=label_pieces(segment.words, turns))
            segments.extend(split_at_speaker_changes(labelled))
        else:
            segments.extend(label_pieces([segment], turns))
    segments = [
        replace(segment, id=number, words=segment.words if keep_words else None)
        for number, segment in enumerate(segments)
    ]
    words = None
    if keep_words and transcription.words is not None:
        words = [word for segment in segments for word in segment.words or []]
    return replace(transcription, segments=segments, words=words)
