"""``POST /v1/audio/language``: which language is spoken (the multilingual model's guess)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from pydantic import BaseModel

from tympan.api.deps import ServicesDep, audio_upload
from tympan.tasks.asr import language_name
from tympan.tasks.asr.models import BASE_MODEL_ID
from tympan.tasks.asr.routing import identify_language

__all__ = ["router"]

router = APIRouter(tags=["asr"])

LanguageAudio = audio_upload("language")


class LanguageScore(BaseModel):
    language: str
    name: str
    probability: float


class LanguageResult(BaseModel):
    """The most likely language at the start of the audio, then the runners-up."""

    language: str
    name: str
    probability: float
    model: str
    languages: list[LanguageScore]


@router.post("/v1/audio/language", response_model=LanguageResult)
async def detect_language(
    audio: LanguageAudio,
    services: ServicesDep,
    top: Annotated[int, Form(ge=1, le=20, description="How many languages to list.")] = 5,
) -> LanguageResult:
    """The language spoken, as an ISO-639-1 code with its probability (Whisper base)."""
    guess = await identify_language(services.manager, audio, top)
    scores = [
        LanguageScore(language=code, name=language_name(code), probability=round(p, 4))
        for code, p in guess.ranking
    ]
    return LanguageResult(
        language=guess.language,
        name=language_name(guess.language),
        probability=round(guess.probability, 4),
        model=BASE_MODEL_ID,
        languages=scores,
    )
