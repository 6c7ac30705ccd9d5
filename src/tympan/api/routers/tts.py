"""``POST /v1/audio/speech`` (OpenAI's shape, streamed) and ``GET /v1/audio/voices``."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, field_validator

from tympan.api.deps import ServicesDep
from tympan.api.services import Services
from tympan.api.streaming import speech_chunks
from tympan.tasks.tts import (
    FORMATS,
    MAX_SPEED,
    MIN_SPEED,
    TTS_TASK,
    EncodedFormat,
    SpeechOptions,
    SpeechStream,
    Voice,
    VoiceCard,
    check_input,
    check_voice_map,
    plan_speech,
    resolve_voice,
    voice_cards,
)

__all__ = ["SpeechRequest", "router"]

router = APIRouter(tags=["tts"])


class SpeechRequest(BaseModel):
    """OpenAI's speech request; ``model`` and ``voice`` may be left out (the default voice)."""

    model: str | None = Field(None, description="A TTS model id or alias (tts-1, tts-1-hd, ...).")
    input: str = Field(description="The text to speak (up to tts_max_input_chars characters).")
    voice: str | None = Field(
        None,
        description='A Piper voice name or an OpenAI voice name, or OpenAI\'s {"id": name} form.',
    )
    response_format: EncodedFormat = "mp3"
    speed: float = Field(1.0, ge=MIN_SPEED, le=MAX_SPEED)
    instructions: str | None = Field(
        None, description="Accepted for compatibility; Piper voices cannot follow style prompts."
    )

    @field_validator("voice", mode="before")
    @classmethod
    def _voice_id(cls, value: object) -> object:
        """OpenAI also sends a voice as ``{"id": "marin"}``."""
        if isinstance(value, dict) and set(value) == {"id"}:
            return value["id"]
        return value

    stream_format: Literal["audio", "sse"] = Field(
        "audio",
        description="audio: the file's bytes, chunked; sse: server-sent events carrying "
        "base64 audio deltas, then a done event (OpenAI's speech.audio.* events).",
    )


@dataclass(frozen=True, slots=True)
class VoiceList:
    """``GET /v1/audio/voices``: every voice, OpenAI list style."""

    data: list[VoiceCard]
    object: str = "list"


def _voices(services: Services) -> tuple[list[Voice], dict[str, str]]:
    voices = [spec.options["voice"] for spec in services.registry.list(TTS_TASK)]
    return voices, check_voice_map(voices, services.settings.tts_voice_map)


def _pick_voice(services: Services, request: SpeechRequest) -> Voice:
    registry = services.registry
    spec = (
        registry.get(request.model, task=TTS_TASK) if request.model else registry.default(TTS_TASK)
    )
    if request.voice is None:
        return spec.options["voice"]
    voices, voice_map = _voices(services)
    return resolve_voice(request.voice, voices, voice_map, spec.options["voice"])


async def _sse(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """OpenAI's event stream: ``speech.audio.delta`` (base64 audio) ..., ``speech.audio.done``."""

    def event(payload: dict[str, str]) -> bytes:
        return f"data: {json.dumps(payload)}\n\n".encode()

    async for chunk in chunks:
        yield event({"type": "speech.audio.delta", "audio": base64.b64encode(chunk).decode()})
    yield event({"type": "speech.audio.done"})


@router.post(
    "/v1/audio/speech",
    response_class=StreamingResponse,
    responses={200: {"content": {fmt.media_type: {} for fmt in FORMATS.values()}}},
)
async def create_speech(request: SpeechRequest, services: ServicesDep) -> StreamingResponse:
    """Speak ``input``; the audio streams (chunked) sentence by sentence as it is synthesised."""
    text = check_input(request.input, services.settings.tts_max_input_chars)
    voice = _pick_voice(services, request)
    options = SpeechOptions(request.speed, request.response_format)
    plan = await services.manager.infer(voice.model_id, plan_speech, text, options, task=TTS_TASK)
    stream = SpeechStream(plan, options)
    headers = {
        "X-Tympan-Model": voice.model_id,
        "X-Tympan-Voice": voice.name,
        "X-Tympan-Sample-Rate": str(stream.sample_rate),
    }
    chunks = speech_chunks(services.manager, voice.model_id, stream)
    if request.stream_format == "sse":
        return StreamingResponse(_sse(chunks), media_type="text/event-stream", headers=headers)
    return StreamingResponse(chunks, media_type=stream.media_type, headers=headers)


@router.get("/v1/audio/voices", response_model=VoiceList)
async def list_voices(services: ServicesDep) -> VoiceList:
    """Every voice with its model, language, rate and the OpenAI voice names that reach it."""
    voices, voice_map = _voices(services)
    return VoiceList(data=voice_cards(voices, voice_map))
