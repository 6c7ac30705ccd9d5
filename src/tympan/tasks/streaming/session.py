"""``LiveSession``: a stream of audio chunks in, turn events out; the one streaming core.

The session is the client's side: it decodes appended bytes (``PcmDecoder``, 16 kHz), holds
the session's limits (``realtime_max_buffer_seconds`` of audio not transcribed yet, appends
beyond it refused, so a client sending faster than the model keeps up is told, not dropped
silently; ``realtime_max_session_seconds``), applies ``session.update`` options, and runs
client commands (audio, commit, clear, update) in order in one worker task. What the audio
becomes, turns and their decodes, is the ``TurnTracker``'s job (``tracker.py``). The OpenAI
Realtime WebSocket, Wyoming, ``tympan listen`` and the console all drive this class.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from tympan.audio.stream import PcmDecoder
from tympan.config import DEFAULT_NAMESPACE, SAMPLE_RATE
from tympan.errors import AudioTooLong, PayloadTooLarge, TympanError
from tympan.tasks.asr import TranscribeOptions
from tympan.tasks.asr.glossary import glossary_hotwords
from tympan.tasks.speakers import default_threshold
from tympan.tasks.streaming.decoding import TurnDecoder
from tympan.tasks.streaming.engine import LiveEngine
from tympan.tasks.streaming.events import LiveEvent, SessionError
from tympan.tasks.streaming.labels import SpeakerLabeller
from tympan.tasks.streaming.noise import LiveNoiseReduction
from tympan.tasks.streaming.options import LiveOptions
from tympan.tasks.streaming.tracker import TurnTracker

__all__ = ["LiveSession"]


class LiveSession:
    """One live transcription session over a ``LiveEngine``; ``close`` it when done."""

    def __init__(
        self, engine: LiveEngine, options: LiveOptions, *, namespace: str = DEFAULT_NAMESPACE
    ) -> None:
        """Count the session in (``Overloaded`` past the limit) and start its worker.

        ``namespace`` is whose enrolled speakers name the turns (the caller's API key's).
        """
        options.validate()
        engine.acquire()
        self.engine = engine
        self.options = options
        self.ended = False
        self._events: asyncio.Queue[LiveEvent | None] = asyncio.Queue()
        self._commands: asyncio.Queue[tuple[str, object, str | None]] = asyncio.Queue()
        self._pcm = PcmDecoder(options.format)
        self._decoder = TurnDecoder(engine, namespace)
        self._decoder.language = options.language
        self._noise = LiveNoiseReduction(engine)
        self._turns = TurnTracker(
            engine,
            options,
            self._decoder,
            self._noise,
            self._emit,
            lambda: self._commands.put_nowait(("judge", None, None)),
        )
        self._closed = False
        self._worker = asyncio.create_task(self._run(), name="live-session")
        self._expiry = asyncio.get_running_loop().call_later(
            engine.settings.realtime_max_session_seconds, self._expire
        )

    @classmethod
    async def open(
        cls, engine: LiveEngine, options: LiveOptions, *, namespace: str = DEFAULT_NAMESPACE
    ) -> LiveSession:
        """A configured session (model resolved and checked); nothing is left open on error."""
        session = cls(engine, options, namespace=namespace)
        try:
            await session.configure(options)
        except BaseException:
            await session.close()
            raise
        return session

    @property
    def model_id(self) -> str:
        """The ASR model that transcribes this session's turns."""
        return self._decoder.model_id

    # -- the client's side ----------------------------------------------------------------

    async def configure(self, options: LiveOptions) -> None:
        """Apply (new) options: the model is resolved and checked before anything changes."""
        options.validate()
        transcriber = self.engine.transcriber
        registry = transcriber.manager.registry
        spec = registry.get(options.model, task="asr") if options.model else registry.default("asr")
        await transcriber.check(spec.id, TranscribeOptions(language=options.language))
        await self.engine.prepare(spec.id, speakers=options.speakers)
        if options.format != self.options.format:
            self._pcm = PcmDecoder(options.format)
        decoder = self._decoder
        if options.speakers and decoder.labeller is None:
            model = self.engine.speaker_model()
            decoder.labeller = SpeakerLabeller(model, default_threshold(model))
        await self._noise.configure(options.noise_reduction)
        if options.language != self.options.language or spec.id != decoder.model_id:
            decoder.language = options.language
        glossary = await self.engine.glossary(spec.id, decoder.namespace)
        decoder.model_id, decoder.prompt, self.options = spec.id, options.prompt, options
        decoder.hotwords = glossary_hotwords(None, glossary)
        self._turns.use(options)

    def append(self, data: bytes, event_id: str | None = None) -> None:
        """Queue audio bytes in the session's format; 413 past ``realtime_max_buffer_seconds``."""
        samples = self._pcm.decode(data)
        limit = self.engine.settings.realtime_max_buffer_seconds
        held = self._turns.pending_samples + samples.shape[0]
        if held > limit * SAMPLE_RATE:
            raise PayloadTooLarge(
                f"The session holds {held / SAMPLE_RATE:.1f} s of audio not transcribed yet, "
                f"over the {limit:g} s limit (TYMPAN_REALTIME_MAX_BUFFER_SECONDS); send audio "
                "no faster than real time, or commit.",
                param="audio",
                code="input_audio_buffer_full",
            )
        self._turns.queued += samples.shape[0]
        self._commands.put_nowait(("audio", samples, event_id))

    def commit(self, event_id: str | None = None, *, quiet: bool = False) -> None:
        """Commit the audio since the last commit as a turn (after the audio queued before);
        ``quiet`` skips an empty buffer instead of reporting an error."""
        self._commands.put_nowait(("commit", quiet, event_id))

    def clear(self, event_id: str | None = None) -> None:
        """Drop the uncommitted audio."""
        self._commands.put_nowait(("clear", None, event_id))

    async def events(self) -> AsyncIterator[LiveEvent]:
        """Every event of the session, in order, until it is closed."""
        while (event := await self._events.get()) is not None:
            yield event

    async def finish(self) -> None:
        """Commit the open turn (or, without server VAD, the buffer), wait for every turn's
        transcript, then end the stream."""
        self.commit(quiet=True)
        await self._commands.join()
        await self._turns.drain()
        await self.close()

    async def close(self) -> None:
        """Stop the worker and every decode still running; release the session's slot."""
        if self._closed:
            return
        self._closed = True
        self._expiry.cancel()
        tasks = [self._worker, *self._turns.stop()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._noise.close()
        self._turns.held.release()
        self.engine.release()
        self._events.put_nowait(None)

    # -- the worker -----------------------------------------------------------------------

    # -- the worker -----------------------------------------------------------------------

    def _emit(self, event: LiveEvent) -> None:
        if not self._closed:
            self._events.put_nowait(event)

    def _expire(self) -> None:
        limit = self.engine.settings.realtime_max_session_seconds
        self.ended = True
        self._emit(
            SessionError(
                AudioTooLong(
                    f"The session reached its {limit:g} s limit "
                    "(TYMPAN_REALTIME_MAX_SESSION_SECONDS); open a new one.",
                    code="session_expired",
                )
            )
        )

    async def _run(self) -> None:
        while True:
            kind, payload, event_id = await self._commands.get()
            try:
                if kind == "audio":
                    await self._turns.on_audio(payload)  # type: ignore[arg-type]
                elif kind == "commit":
                    self._turns.commit(quiet=bool(payload))
                elif kind == "clear":
                    self._turns.clear()
                elif kind == "judge":
                    self._turns.end_if_finished()
            except TympanError as exc:
                self._emit(SessionError(exc, event_id))
            finally:
                self._commands.task_done()
