"""``Transcriber``: one request's path from ``Audio`` to ``Transcription``, through shared queues.

    VAD (Silero)  ->  chunks <=30 s cut in pauses  ->  language  ->  per-model BatchQueue
                  ->  batched decoding (with other requests' chunks)  ->  joined transcript

In a traced request these are the spans ``vad``, ``language`` (when detected), then ``queue``
and ``inference`` per chunk and batch (opened by the ``BatchQueue``).

Each model has one ``BatchQueue``: the chunks of a long recording and those of concurrent
requests are decoded together, one batch at a time, in the model manager's executor. Progress
(chunks done, audio seconds covered) goes to the server log and to an optional callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, fields, replace
from typing import Literal

from tympan.audio.types import Audio
from tympan.config import Settings
from tympan.drift import Windows
from tympan.errors import InvalidParameter, UnsupportedOperation
from tympan.metrics import ASR_AUDIO_SECONDS
from tympan.models.batching import BatchQueue
from tympan.models.manager import ModelManager
from tympan.tasks.asr.chunking import CHUNK_VAD_OPTIONS, Chunk, plan_chunks
from tympan.tasks.asr.decoding import ChunkJob, DecodeOptions, decode_chunks, detect_language
from tympan.tasks.asr.drift import observe_window
from tympan.tasks.asr.languages import LANGUAGE_NAMES, language_name
from tympan.tasks.asr.results import Segment, Transcription, join_chunks
from tympan.tasks.vad import SILERO_MODEL_ID, VAD_TASK, VadOptions
from tympan.tracing import span

__all__ = [
    "ChunkProgress",
    "ProgressCallback",
    "TranscribeOptions",
    "Transcriber",
    "transcriber_for",
]

log = logging.getLogger(__name__)

_TEMPERATURE_LADDER = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
_CONTEXT_CHARS = 1000  # more than the 223 tokens Whisper keeps of the previous text


@dataclass(frozen=True, slots=True)
class TranscribeOptions:
    """What a request may set; defaults follow OpenAI's API and faster-whisper's transcribe.

    ``temperature`` 0 means "start greedy (beam search) and raise the temperature only for
    chunks whose text looks wrong", as OpenAI documents; a higher value starts there.
    ``vad_filter`` drops non-speech before decoding (chunks are cut at pauses either way).
    ``condition_on_previous_text`` prompts each chunk with the text before it, as
    faster-whisper's sequential decoder does; a request's chunks then go one after another
    (still batched with other requests' chunks) instead of all at once.
    ``chunking`` replaces the tuned VAD options that cut the audio into windows (OpenAI's
    ``chunking_strategy`` of type ``server_vad``).
    Whisper decodes text only, without its timestamp tokens (fewer tokens, no second pass
    over windows it ends early); with ``timestamps`` the words are then aligned to the audio
    (cross-attention, one teacher-forced pass) and each window's text is cut into phrases at
    sentence ends and pauses, timed by its words. Off (answers that show no times), a
    window is one segment spanning its VAD bounds. Measured in
    ``benchmarks/bench_longform.py``: 5 min decoded 1.3x faster this way than with timestamp
    tokens, same text.
    ``language_probability`` goes with a ``language`` identified before transcribing (OpenAI
    names route by it) and is reported in the result.
    """

    task: Literal["transcribe", "translate"] = "transcribe"
    language: str | None = None
    prompt: str | None = None
    hotwords: str | None = None
    temperature: float = 0.0
    beam_size: int = 5
    best_of: int = 5
    patience: float = 1.0
    length_penalty: float = 1.0
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    compression_ratio_threshold: float | None = 2.4
    log_prob_threshold: float | None = -1.0
    no_speech_threshold: float | None = 0.6
    word_timestamps: bool = False
    vad_filter: bool = True
    condition_on_previous_text: bool = False
    chunking: VadOptions = CHUNK_VAD_OPTIONS
    timestamps: bool = True
    language_probability: float | None = None

    def decode_options(self, language: str) -> DecodeOptions:
        """The per-chunk decoding options for a resolved ``language``."""
        ladder = (self.temperature, *(t for t in _TEMPERATURE_LADDER if t > self.temperature))
        shared = {
            item.name: getattr(self, item.name)
            for item in fields(DecodeOptions)
            if item.name in TranscribeOptions.__dataclass_fields__
        }
        shared.update(
            language=language,
            temperatures=ladder,
            word_timestamps=self.word_timestamps or self.timestamps,
        )
        return DecodeOptions(**shared)


@dataclass(frozen=True, slots=True)
class ChunkProgress:
    """A chunk finished: how many are done, how much audio they cover, its segments."""

    done: int
    total: int
    chunk: Chunk
    segments: list[Segment] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


ProgressCallback = Callable[[ChunkProgress], None]


class Transcriber:
    """Transcribes ``Audio`` with any ASR model of the registry, batching across requests."""

    def __init__(self, manager: ModelManager, settings: Settings) -> None:
        self.manager = manager
        self.settings = settings
        self._queues: dict[str, BatchQueue[ChunkJob, list[Segment]]] = {}
        self.quality = Windows(settings.drift_window)
        """Whisper's judgement of the recent windows, per model and language (drift)."""

    def queue(self, model_id: str) -> BatchQueue[ChunkJob, list[Segment]]:
        """The model's queue (created on first use, in the running event loop)."""
        queue = self._queues.get(model_id)
        if queue is None:

            async def run_batch(jobs: list[ChunkJob]) -> list[list[Segment] | BaseException]:
                ASR_AUDIO_SECONDS.labels(model_id).inc(sum(job.duration for job in jobs))
                results = await self.manager.infer(model_id, decode_chunks, jobs, task="asr")
                for job, result in zip(jobs, results, strict=True):
                    if isinstance(result, list):
                        observe_window(self.quality, model_id, job.options.language, result)
                return results

            parallel = self.manager.parallel_calls(model_id)
            queue = BatchQueue(
                run_batch,
                max_batch=self.settings.asr_batch_size,
                max_wait=self.settings.asr_batch_wait_ms / 1000,
                name=f"asr:{model_id}",
                max_callers=self.settings.asr_queue_size,
                limit_setting="asr_queue_size",
                parallel=parallel,
                eager=max(1, parallel // 2),  # one per replica; the batch behind it gathers
            )
            self._queues[model_id] = queue
        return queue

    def admission(self, model_id: str) -> contextlib.AbstractContextManager[None]:
        """A request's place in the model's queue, taken before its work starts (503 if full)."""
        return self.queue(self.manager.registry.get(model_id, task="asr").id).admission()

    async def check(self, model_id: str, options: TranscribeOptions) -> bool:
        """Refuse what the model cannot do; returns whether it is multilingual."""
        if options.language is not None and options.language not in LANGUAGE_NAMES:
            raise InvalidParameter(
                f"Unknown language {options.language!r}; use an ISO-639-1 code such as 'en'.",
                param="language",
            )
        known = self.manager.registry.get(model_id, task="asr").options.get("multilingual")
        multilingual = known if known is not None else await self._loaded_multilingual(model_id)
        if not multilingual and options.task == "translate":
            raise UnsupportedOperation(
                f"Model {model_id!r} is English-only and cannot translate; use a multilingual "
                "model such as whisper-base.",
                param="model",
            )
        if not multilingual and options.language not in (None, "en"):
            raise UnsupportedOperation(
                f"Model {model_id!r} is English-only; it cannot transcribe {options.language!r}.",
                param="language",
            )
        return multilingual

    async def _loaded_multilingual(self, model_id: str) -> bool:
        """Whether a configured model knows other languages (it says so once loaded)."""
        return await self.manager.infer(model_id, lambda handle: handle.multilingual, task="asr")

    async def _language(
        self, model_id: str, audio: Audio, chunks: list[Chunk], options: TranscribeOptions
    ) -> tuple[str, float | None]:
        if options.language:
            return options.language, options.language_probability
        first = chunks[0]
        with span("language") as stage:
            samples = audio.slice(first.start, first.end).samples  # only these go to a replica
            language, probability = await self.manager.infer(
                model_id, detect_language, samples, task="asr"
            )
            stage.set(language=language)
        log.info("asr %s: detected language %s (p=%.2f)", model_id, language, probability)
        return language, round(probability, 4)

    async def transcribe(
        self,
        audio: Audio,
        model_id: str,
        options: TranscribeOptions = TranscribeOptions(),
        on_progress: ProgressCallback | None = None,
    ) -> Transcription:
        """Transcribe (or translate to English) ``audio`` with model ``model_id``."""
        started = time.perf_counter()
        model_id = self.manager.registry.get(model_id, task="asr").id
        multilingual = await self.check(model_id, options)
        with span("vad") as stage:
            probabilities = await self.manager.infer(
                SILERO_MODEL_ID, lambda vad: vad.probabilities(audio), task=VAD_TASK
            )
            chunks, _ = plan_chunks(
                probabilities,
                audio.duration,
                speech_only=options.vad_filter,
                vad_options=options.chunking,
            )
            stage.set(chunks=len(chunks))
        if multilingual and chunks:
            language, probability = await self._language(model_id, audio, chunks, options)
        else:
            language, probability = options.language or "en", options.language_probability
        decode = options.decode_options(language)
        jobs = [
            ChunkJob(
                audio.slice(c.start, c.end).samples,
                c.start,
                decode,
                options.prompt,
                options.hotwords,
                c.frames(probabilities),
            )
            for c in chunks
        ]
        segments = await self._decode(
            model_id, audio, chunks, jobs, on_progress, condition=options.condition_on_previous_text
        )
        elapsed = time.perf_counter() - started
        log.info(
            "asr %s: %.1f s of audio in %d chunks, %.2f s (RTFx %.1f)",
            model_id,
            audio.duration,
            len(chunks),
            elapsed,
            audio.duration / elapsed if elapsed else 0.0,
        )
        return join_chunks(
            segments,
            task=options.task,
            language=language_name(language),
            duration=audio.duration,
            with_words=options.word_timestamps,
            language_probability=probability,
        )

    async def _decode(
        self,
        model_id: str,
        audio: Audio,
        chunks: list[Chunk],
        jobs: list[ChunkJob],
        on_progress: ProgressCallback | None,
        *,
        condition: bool,
    ) -> list[list[Segment]]:
        """Every chunk through the model's queue; progress reported in time order."""
        decoded: list[list[Segment]] = []
        async for segments in self._in_order(self.queue(model_id), jobs, condition):
            decoded.append(segments)
            done = len(decoded)
            if len(chunks) > 1:
                log.info(
                    "asr %s: chunk %d/%d done (%.0f of %.0f s)",
                    model_id,
                    done,
                    len(chunks),
                    chunks[done - 1].end,
                    audio.duration,
                )
            if on_progress is not None:
                on_progress(ChunkProgress(done, len(chunks), chunks[done - 1], segments))
        return decoded

    @staticmethod
    async def _in_order(
        queue: BatchQueue[ChunkJob, list[Segment]], jobs: list[ChunkJob], condition: bool
    ) -> AsyncIterator[list[Segment]]:
        """Segments of each chunk in order: all chunks queued at once (batched together), or,
        with ``condition``, one after another, each prompted with the text before it."""
        if condition:
            context = (jobs[0].prompt or "") if jobs else ""
            for job in jobs:
                segments = await queue.submit(
                    replace(job, prompt=context[-_CONTEXT_CHARS:] or None)
                )
                context += "".join(segment.text for segment in segments)
                yield segments
            return
        pending = [asyncio.ensure_future(queue.submit(job)) for job in jobs]
        try:
            for task in pending:
                yield await task
        finally:
            for task in pending:
                task.cancel()


_TRANSCRIBERS: weakref.WeakKeyDictionary[ModelManager, Transcriber] = weakref.WeakKeyDictionary()


def transcriber_for(manager: ModelManager, settings: Settings) -> Transcriber:
    """The one ``Transcriber`` (and so the one set of queues) of a running service."""
    transcriber = _TRANSCRIBERS.get(manager)
    if transcriber is None:
        transcriber = _TRANSCRIBERS[manager] = Transcriber(manager, settings)
    return transcriber
