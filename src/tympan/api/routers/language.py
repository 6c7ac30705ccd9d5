"""``POST /v1/audio/language``: which language is spoken, top candidates with probabilities."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form

from tympan.api.deps import AudioUpload, ServicesDep
from tympan.tasks.asr.routing import LanguageReport, identify_language

__all__ = ["router"]

router = APIRouter(tags=["language"])


@router.post("/v1/audio/language", response_model=LanguageReport)
async def audio_language(
    audio: AudioUpload,
    services: ServicesDep,
    top: Annotated[int, Form(ge=1, le=20, description="How many candidates to return.")] = 5,
) -> LanguageReport:
    """Language ID with the bundled multilingual Whisper base (first 30 s of the audio)."""
    guess = await identify_language(services.manager, audio)
    return LanguageReport.of(guess, top, audio.duration)
