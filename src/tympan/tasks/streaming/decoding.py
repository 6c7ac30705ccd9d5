"""``TurnDecoder``: the model side of a live session, turn audio in, text and speaker out.

Partial previews (greedy, the encoder on the audio's own length, not a 30 s window) and final
decodes (chunks planned on the turn's own frame probabilities, beam search with temperature
fallback) both go through the model's ASR ``BatchQueue``, the one file requests use; previews
as background items, so they never delay a final. Each decode is prompted with the text heard
before it (the session's earlier pieces and turns), as Whisper conditions each window on the
previous one. The speaker of a turn comes from its embedding.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import numpy as np

from tympan.config import DEFAULT_NAMESPACE, SAMPLE_RATE
from tympan.tasks.asr import (
    ChunkJob,
    Segment,
    TranscribeOptions,
    Word,
    detect_language,
    language_name,
    plan_chunks,
)
from tympan.tasks.asr.results import join_chunks
from tympan.tasks.streaming.engine import LiveEngine
from tympan.tasks.streaming.labels import SpeakerLabeller

__all__ = ["CONTEXT_WORDS", "TurnDecoder", "with_context"]

CONTEXT_WORDS = 60
"""Words of earlier text a decode is prompted with (Whisper keeps at most 223 tokens)."""


def with_context(context: str, text: str) -> str:
    """The context the next decode gets once ``text`` was heard after ``context``."""
    return " ".join([*context.split(), *text.split()][-CONTEXT_WORDS:])


class TurnDecoder:
    """Decodes one session's turns with its model, language, prompt, glossary and speaker
    labels."""

    def __init__(self, engine: LiveEngine, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.engine = engine
        self.namespace = namespace
        self.model_id = ""
        self.language: str | None = None
        self.prompt: str | None = None
        self.hotwords: str | None = None  # the model's stored glossary
        self.labeller: SpeakerLabeller | None = None

    @property
    def queue_busy(self) -> bool:
        """Whether the model is decoding or has work waiting: a preview started now would go
        stale in the queue, or hold the model when a final decode comes (a running batch
        cannot give way)."""
        queue = self.engine.transcriber.queue(self.model_id)
        return queue.pending > 0 or queue.running > 0

    @property
    def finals_waiting(self) -> bool:
        """Whether final decodes wait in the model's queue (a guess would only delay them)."""
        return self.engine.transcriber.queue(self.model_id).pending_foreground > 0

    def _prompt(self, context: str) -> str | None:
        """The session's prompt followed by the text heard just before (either may be empty)."""
        return " ".join(part for part in (self.prompt, context) if part) or None

    async def resolve_language(self, samples: np.ndarray) -> str:
        """The session's language: as set, else detected once on the first speech."""
        if self.language is None:
            multilingual = await self.engine.transcriber.check(self.model_id, TranscribeOptions())
            if not multilingual:
                self.language = "en"
            else:
                self.language, _ = await self.engine.manager.infer(
                    self.model_id, detect_language, samples, task="asr"
                )
        return self.language

    async def preview(
        self, samples: np.ndarray, start: float, context: str = "", *, with_words: bool = False
    ) -> tuple[str, list[Word]]:
        """A quick greedy text of the open turn so far (``start``: its time in the session;
        ``context``: the text heard before it), and its words timed in the session when
        asked for (``with_words``: where a long piece can be cut between words)."""
        language = await self.resolve_language(samples)
        options = TranscribeOptions(
            language=language,
            beam_size=1,
            best_of=1,
            timestamps=False,
            word_timestamps=with_words,
        )
        greedy = replace(
            options.decode_options(language),
            temperatures=(0.0,),
            compression_ratio_threshold=None,
            log_prob_threshold=None,
            full_window=False,  # a throwaway text: the encoder reads the audio there is
        )
        job = ChunkJob(samples, start, greedy, self._prompt(context), self.hotwords)
        queue = self.engine.transcriber.queue(self.model_id)
        segments = await queue.submit(job, background=True)  # finals go first
        words = [word for segment in segments for word in segment.words or ()]
        return "".join(segment.text for segment in segments), words

    async def final(
        self,
        samples: np.ndarray,
        probabilities: np.ndarray,
        start: float,
        *,
        from_vad: bool,
        with_words: bool,
        context: str = "",
        short_window: bool = False,
    ) -> tuple[str, list[Segment], str]:
        """A finished piece of a turn: its text, segments and language, decoded as a file's
        chunks are (``context``: the text heard before it).

        With ``short_window`` (a turn's end waits for this decode), or while other final
        decodes wait in the model's queue, the encoder reads the piece's own length instead of
        a 30 s window, as previews do: with 6 sessions ending turns together, p95 stop ->
        ``completed`` fell from 19-22 s to 6.7 s (load 8-12), for about a word in 60 more
        against the whole-file text; otherwise whole windows.

        Audio without speech is empty text, unless server VAD heard speech in it (then the
        whole turn is decoded, whatever its probabilities say).
        """
        duration = samples.shape[0] / SAMPLE_RATE
        chunks, _ = plan_chunks(probabilities, duration)
        if not chunks and from_vad:
            chunks, _ = plan_chunks(probabilities, duration, speech_only=False)
        if not chunks:
            return "", [], self.language or "en"
        language = await self.resolve_language(samples)
        options = TranscribeOptions(  # a turn's answer is its text: no phrase times
            language=language, word_timestamps=with_words, timestamps=False
        )
        decode = options.decode_options(language)
        queue = self.engine.transcriber.queue(self.model_id)
        if short_window or queue.pending_foreground > 0:
            decode = replace(decode, full_window=False)  # see the docstring
        jobs = [
            ChunkJob(
                samples[round(c.start * SAMPLE_RATE) : round(c.end * SAMPLE_RATE)],
                start + c.start,
                decode,
                self._prompt(context),
                self.hotwords,
                c.frames(probabilities),
            )
            for c in chunks
        ]
        decoded = await asyncio.gather(*(queue.submit(job) for job in jobs))
        joined = join_chunks(
            list(decoded),
            task="transcribe",
            language=language_name(language),
            duration=duration,
            with_words=with_words,
        )
        return joined.text, joined.segments, language

    @staticmethod
    def join(
        pieces: list[tuple[str, list[Segment], str]], duration: float, *, with_words: bool
    ) -> tuple[str, list[Segment], str]:
        """A turn's text, segments and language from its pieces' (in time order)."""
        language = pieces[-1][2]
        joined = join_chunks(
            [segments for _, segments, _ in pieces],
            task="transcribe",
            language=language_name(language),
            duration=duration,
            with_words=with_words,
        )
        return joined.text, joined.segments, language

    async def speaker(self, samples: np.ndarray) -> str | None:
        """The turn's speaker label, or None (no labeller, or no voice to embed)."""
        labeller = self.labeller
        if labeller is None:
            return None
        embedding = await self.engine.embed(labeller.model, samples)
        if embedding is None:
            return None
        index = await self.engine.speaker_index(labeller.model, self.namespace)
        return labeller.label(embedding, samples.shape[0] / SAMPLE_RATE, index)
