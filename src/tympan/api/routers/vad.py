"""``POST /v1/audio/vad``: speech segments by Silero, energy, spectral or fused detection."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form

from tympan.api.deps import ServicesDep, audio_upload
from tympan.tasks.vad import (
    SILERO_MODEL_ID,
    VadMethod,
    VadOptions,
    VadResult,
    detect_speech,
)

__all__ = ["router"]

router = APIRouter(tags=["vad"])

VadAudio = audio_upload("vad")


@router.post("/v1/audio/vad", response_model=VadResult)
async def audio_vad(
    audio: VadAudio,
    services: ServicesDep,
    method: Annotated[VadMethod | None, Form()] = None,
    threshold: Annotated[float, Form(gt=0, lt=1)] = 0.5,
    neg_threshold: Annotated[float | None, Form(ge=0, lt=1)] = None,
    min_speech_ms: Annotated[int, Form(ge=0, le=60_000)] = 250,
    min_silence_ms: Annotated[int, Form(ge=0, le=60_000)] = 100,
    speech_pad_ms: Annotated[int, Form(ge=0, le=60_000)] = 30,
) -> VadResult:
    """Where the speech is: segments ``{start, end, confidence}``, speech ratio, duration."""
    chosen: VadMethod = method or services.settings.default_vad_method  # type: ignore[assignment]
    options = VadOptions(threshold, neg_threshold, min_speech_ms, min_silence_ms, speech_pad_ms)
    options.validate()
    if chosen in ("energy", "spectral"):
        return await services.manager.run(detect_speech, audio, chosen, options)
    return await services.manager.infer(
        SILERO_MODEL_ID, lambda model: detect_speech(audio, chosen, options, model)
    )
