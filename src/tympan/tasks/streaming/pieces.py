"""A live turn while it goes on and once committed: the pieces it is decoded in.

A turn is decoded in pieces while it goes on: the speech before a gap (once long enough) is a
finished ``Piece``, decoded at once; the commit leaves only the last piece to decode. Every
decode resolves to a ``PieceText`` that carries the context the next decode is prompted with
(the session's earlier text), so the decodes form a chain, as Whisper's windows of a file do.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np

from tympan.config import SAMPLE_RATE
from tympan.tasks.asr import Segment, Word
from tympan.tasks.asr.decoding import CLAUSE_ENDS, SENTENCE_ENDS
from tympan.tasks.asr.formats import word_logprobs
from tympan.tasks.streaming.events import (
    LiveEvent,
    SpeakerSegment,
    TokenLogprob,
    TranscriptCompleted,
    TranscriptDelta,
)
from tympan.tasks.streaming.partials import PartialText

__all__ = [
    "CommittedTurn",
    "OpenTurn",
    "Piece",
    "PieceText",
    "between_words",
    "context_after",
    "context_now",
    "retrieved",
]

PieceText = tuple[str, list[Segment], str, str]
"""A piece's text, segments and language, and the context the decode after it is given."""


def between_words(
    words: list[Word], earliest: float, latest: float, *, gap: float
) -> tuple[float, float] | None:
    """Where to cut a long stretch of speech with no pause in it: the span between two of a
    preview's aligned ``words`` (session seconds) that lies in ``[earliest, latest]``, after
    a sentence's end, else a clause's, else a silence of ``gap`` seconds, the earliest there
    is; None when there is none.

    Not between any two words: the alignment often gives words that run together no gap,
    and a cut there went through a word ("Sheila and Texas" came out "Sheila. This is the
    Texas"). The earliest, not the widest: a preview's early words are settled, so previews
    that end at different times agree on it, while a wide aligned gap may hold a word the
    preview missed (the sample's "Okay," between "...design." and "I thought": a cut there
    took the sample from 11.5 to 17.2 % WER in two of six streams). A preview's last words
    may still change as audio comes, and its times are the alignment's (a frame or more off),
    so the caller keeps ``latest`` well before the preview's end and cuts at the quietest
    20 ms around the span."""
    spans = [  # (0 a sentence's end, 1 a clause's, 2 a silence; end of one word, start of next)
        (rank, one.end, two.start)
        for one, two in pairwise(words)
        if earliest <= one.end
        and two.start <= latest
        and (rank := _cut_rank(one.word.strip(), two.start - one.end >= gap)) is not None
    ]
    if not spans:
        return None
    _, end, start = min(spans)
    return end, start


def _cut_rank(word: str, silence_after: bool) -> int | None:
    """How good a place after ``word`` is to cut (lower is better; None: not a place)."""
    if word.endswith(SENTENCE_ENDS):
        return 0
    if word.endswith(CLAUSE_ENDS):
        return 1
    return 2 if silence_after else None


def retrieved(future: asyncio.Future[Any]) -> None:
    """Mark a decode's failure as seen (a dropped guess's failure is nobody's error)."""
    if not future.cancelled():
        future.exception()


def context_now(decoding: asyncio.Future[PieceText] | None) -> str | None:
    """The context after a decode if it is done (empty when it failed), else None."""
    if decoding is None:
        return ""
    if not decoding.done():
        return None
    return "" if decoding.cancelled() or decoding.exception() else decoding.result()[3]


async def context_after(decoding: asyncio.Future[PieceText] | None) -> str:
    """The context after a decode, once it is done (its failure is its own turn's)."""
    if decoding is not None:
        await asyncio.wait([decoding])
    return context_now(decoding) or ""


@dataclass(slots=True)
class Piece:
    """A stretch ``[start, end)`` of a turn being decoded; the next piece starts at ``resume``
    (the end of the speech before the gap, so the gap's silence lies in both)."""

    start: int
    end: int
    resume: int
    decoding: asyncio.Future[PieceText]


@dataclass(slots=True)
class OpenTurn:
    """A turn still going: its start, previews, finished pieces and the decode made ahead."""

    item_id: str
    start: int  # sample index in the session
    before: asyncio.Future[PieceText] | None = None  # the decode before the turn (its context)
    partial: PartialText = field(default_factory=PartialText)
    partial_at: int = 0
    partial_task: asyncio.Task[None] | None = None
    pieces: list[Piece] = field(default_factory=list)  # finished, decoded or decoding
    ahead: Piece | None = None  # decoded ahead at a pause: the turn may end there
    label_ahead: asyncio.Future[str | None] | None = None  # the turn to that pause, labelled
    between_words: tuple[float, float] | None = None  # a preview's place to cut a long piece
    closed: bool = False

    @property
    def cut(self) -> int:
        """Where the audio not yet in a finished piece starts."""
        return self.pieces[-1].resume if self.pieces else self.start

    def drop_ahead(self) -> None:
        """Cancel the decode made ahead of a pause (speech came back, or the turn is gone)."""
        if self.ahead is not None:
            self.ahead.decoding.cancel()
            self.ahead = None
        if self.label_ahead is not None:
            self.label_ahead.cancel()
            self.label_ahead = None

    def drop(self) -> None:
        """Cancel every decode of the turn (it was cleared, or the session closed)."""
        self.drop_ahead()
        for piece in self.pieces:
            piece.decoding.cancel()

    def undecoded(self) -> tuple[int, str, str]:
        """Where the turn's audio not decoded yet starts, the text of its pieces decoded
        before that, and the context a preview from there is given."""
        texts: list[str] = []
        context = context_now(self.before) or ""
        for piece in self.pieces:
            after = context_now(piece.decoding)
            if after is None:
                return piece.start, " ".join(texts), context
            if piece.decoding.cancelled() or piece.decoding.exception():
                return piece.start, " ".join(texts), context  # the final decode reports it
            texts.append(piece.decoding.result()[0])
            context = after
        return self.cut, " ".join(texts), context


@dataclass(frozen=True, slots=True)
class CommittedTurn:
    """A committed turn: its audio, what was sent of it, its pieces' decodes in order and
    its speaker label (None: no labels asked for)."""

    item_id: str
    start: int
    samples: np.ndarray
    partial: PartialText
    pieces: list[asyncio.Future[PieceText]]
    label: asyncio.Future[str | None] | None

    def completed(
        self,
        text: str,
        segments: list[Segment],
        language: str,
        speaker: str | None,
        with_logprobs: bool,
    ) -> list[LiveEvent]:
        """The turn's last events once decoded: the rest of its deltas, its speaker segment
        (when labelled) and ``completed`` (with word log probabilities when asked for)."""
        start = self.start / SAMPLE_RATE
        end = start + self.samples.shape[0] / SAMPLE_RATE
        events: list[LiveEvent] = []
        delta = self.partial.finish(text)
        if delta:
            events.append(TranscriptDelta(self.item_id, delta))
        if speaker is not None:
            events.append(SpeakerSegment(self.item_id, start, end, speaker, text))
        logprobs = None
        if with_logprobs:
            logprobs = [TokenLogprob(token, lp) for token, lp in word_logprobs(segments)]
        events.append(
            TranscriptCompleted(
                self.item_id, text, start, end, end - start, language, speaker, logprobs
            )
        )
        return events
