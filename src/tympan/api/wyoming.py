"""The Wyoming protocol (Home Assistant's voice servers) served beside the HTTP API.

Started by the app's lifespan when ``TYMPAN_WYOMING_URI`` is set (``tympan serve --wyoming
tcp://0.0.0.0:10300``), in the same event loop, so its turns share the ASR batching queues
with HTTP and WebSocket clients. A thin adapter, like the Realtime WebSocket:

- ``describe`` -> ``info``: every ASR model and TTS voice (Wyoming has no API keys, so it
  serves the default namespace: another namespace's fine-tuned models are neither listed
  nor served);
- ``transcribe`` + ``audio-start`` / ``audio-chunk`` / ``audio-stop`` -> a ``LiveSession``
  (server VAD): ``transcript-start``, a ``transcript-chunk`` per delta, ``transcript-stop``,
  then the whole ``transcript``;
- ``synthesize`` (or ``synthesize-start`` / ``-chunk`` / ``-stop``) -> Piper, sentence by
  sentence, as ``audio-start`` / ``audio-chunk`` / ``audio-stop`` (16-bit mono PCM).

A refused request gets an ``error`` event (``text``, ``code``) and the connection stays open.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from wyoming.asr import Transcribe, Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import AsrModel, AsrProgram, Attribution, Describe, Info, TtsProgram, TtsVoice
from wyoming.server import AsyncEventHandler, AsyncServer
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
)

from tympan import __version__
from tympan.api.deps import model_visible, require_visible_model
from tympan.api.services import Services
from tympan.api.streaming import speech_chunks
from tympan.audio.stream import PcmFormat
from tympan.config import DEFAULT_NAMESPACE
from tympan.errors import InvalidParameter, TympanError
from tympan.tasks.asr import LANGUAGE_NAMES
from tympan.tasks.streaming import (
    LiveOptions,
    LiveSession,
    TranscriptCompleted,
    TranscriptDelta,
    TranscriptFailed,
    live_engine,
)
from tympan.tasks.tts import (
    TTS_TASK,
    SpeechOptions,
    SpeechStream,
    Voice,
    check_voice_map,
    plan_speech,
    resolve_voice,
)

__all__ = ["WyomingServer"]

log = logging.getLogger(__name__)

_ATTRIBUTION = Attribution(name="Tympan", url="https://github.com/")


def describe(services: Services) -> Info:
    """What this server offers: ASR models (with their languages) and TTS voices."""
    asr_models = []
    for spec in services.registry.list("asr"):
        if not model_visible(spec, DEFAULT_NAMESPACE):  # Wyoming has no keys: the default's
            continue
        multilingual = spec.options.get("multilingual")
        languages = ["en"] if multilingual is False else sorted(LANGUAGE_NAMES)
        asr_models.append(
            AsrModel(
                name=spec.id,
                attribution=_ATTRIBUTION,
                installed=True,
                description=spec.description,
                version=None,
                languages=languages,
            )
        )
    voices = [
        TtsVoice(
            name=voice.name,
            attribution=_ATTRIBUTION,
            installed=True,
            description=f"Piper {voice.name} ({voice.model_id})",
            version=None,
            languages=[voice.language],
        )
        for voice in _voices(services)
    ]
    program = {"attribution": _ATTRIBUTION, "installed": True, "version": __version__}
    return Info(
        asr=[
            AsrProgram(
                name="tympan",
                description="Tympan speech recognition (Whisper)",
                models=asr_models,
                supports_transcript_streaming=True,
                **program,
            )
        ],
        tts=[
            TtsProgram(
                name="tympan",
                description="Tympan text to speech (Piper)",
                voices=voices,
                supports_synthesize_streaming=True,
                **program,
            )
        ],
    )


def _voices(services: Services) -> list[Voice]:
    return [spec.options["voice"] for spec in services.registry.list(TTS_TASK)]


class TympanHandler(AsyncEventHandler):
    """One Wyoming connection: at most one transcription and one synthesis at a time."""

    def __init__(
        self, services: Services, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        super().__init__(reader, writer)
        self.services = services
        self.engine = live_engine(services.manager, services.settings, services.db)
        self._request = Transcribe()
        self._session: LiveSession | None = None
        self._events: asyncio.Task[str] | None = None
        self._streamed_text: list[str] | None = None

    async def handle_event(self, event: Event) -> bool:
        """Answer one event; a ``TympanError`` becomes an ``error`` event."""
        try:
            await self._handle(event)
        except TympanError as exc:
            await self.write_event(Error(text=exc.message, code=exc.code).event())
        return True

    async def _handle(self, event: Event) -> None:
        if Describe.is_type(event.type):
            await self.write_event(describe(self.services).event())
        elif Transcribe.is_type(event.type):
            self._request = Transcribe.from_event(event)
        elif AudioStart.is_type(event.type):
            await self._start_audio(AudioStart.from_event(event))
        elif AudioChunk.is_type(event.type):
            if self._session is None:
                raise InvalidParameter("audio-chunk before audio-start.", param="audio")
            self._session.append(AudioChunk.from_event(event).audio)
        elif AudioStop.is_type(event.type):
            await self._stop_audio()
        elif SynthesizeStart.is_type(event.type):
            self._streamed_text = []
        elif SynthesizeChunk.is_type(event.type) and self._streamed_text is not None:
            self._streamed_text.append(SynthesizeChunk.from_event(event).text)
        elif SynthesizeStop.is_type(event.type) and self._streamed_text is not None:
            text, self._streamed_text = "".join(self._streamed_text), None
            await self._speak(text, None)
            await self.write_event(SynthesizeStopped().event())
        elif Synthesize.is_type(event.type) and self._streamed_text is None:
            request = Synthesize.from_event(event)  # inside a stream it only repeats the text
            await self._speak(request.text, request.voice.name if request.voice else None)

    async def _start_audio(self, start: AudioStart) -> None:
        if start.width != 2:
            raise InvalidParameter("Send 16-bit PCM (width 2).", param="width")
        await self._close_session()
        require_visible_model(self.services, self._request.name, DEFAULT_NAMESPACE)
        fmt = PcmFormat("pcm16", start.rate, start.channels)
        options = LiveOptions(format=fmt, model=self._request.name, language=self._request.language)
        self._session = await LiveSession.open(self.engine, options)
        self._events = asyncio.create_task(self._forward(self._session))
        await self.write_event(TranscriptStart(language=self._request.language).event())

    async def _forward(self, session: LiveSession) -> str:
        """Send deltas as ``transcript-chunk``; return the turns' joined final text."""
        texts: list[str] = []
        async for event in session.events():
            if isinstance(event, TranscriptDelta):
                await self.write_event(TranscriptChunk(text=event.delta).event())
            elif isinstance(event, TranscriptCompleted) and event.transcript:
                texts.append(event.transcript)
            elif isinstance(event, TranscriptFailed):
                await self.write_event(Error(event.error.message, event.error.code).event())
        return " ".join(texts)

    async def _stop_audio(self) -> None:
        session, events = self._session, self._events
        if session is None or events is None:
            raise InvalidParameter("audio-stop before audio-start.", param="audio")
        self._session = self._events = None
        await session.finish()
        text = await events
        await self.write_event(TranscriptStop().event())
        await self.write_event(Transcript(text=text, language=self._request.language).event())
        self._request = Transcribe()

    async def _speak(self, text: str, voice_name: str | None) -> None:
        """Synthesise ``text`` and send it as PCM audio events, one sentence at a time."""
        services = self.services
        default = services.registry.default(TTS_TASK).options["voice"]
        voice = default
        if voice_name:
            voices = _voices(services)
            voice_map = check_voice_map(voices, services.settings.tts_voice_map)
            voice = resolve_voice(voice_name, voices, voice_map, default)
        manager = services.manager
        options = SpeechOptions(response_format="pcm")
        plan = await manager.infer(voice.model_id, plan_speech, text, options, task=TTS_TASK)
        stream = SpeechStream(plan, options)
        audio = {"rate": stream.sample_rate, "width": 2, "channels": 1}
        await self.write_event(AudioStart(**audio).event())
        async for chunk in speech_chunks(manager, voice.model_id, stream):
            await self.write_event(AudioChunk(audio=chunk, **audio).event())
        await self.write_event(AudioStop().event())

    async def _close_session(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._events is not None:
            await asyncio.gather(self._events, return_exceptions=True)
        self._session = self._events = None

    async def disconnect(self) -> None:
        """The client went away: end its session, if any."""
        await self._close_session()


class WyomingServer:
    """The Wyoming listener of a running service."""

    def __init__(self, services: Services, uri: str) -> None:
        self.services = services
        self.uri = uri
        self._server = AsyncServer.from_uri(uri)

    async def start(self) -> None:
        """Start listening (returns once the socket is bound)."""
        await self._server.start(partial(TympanHandler, self.services))
        log.info("Wyoming protocol on %s", self.uri)

    async def stop(self) -> None:
        """Stop listening and end every connection."""
        await self._server.stop()
