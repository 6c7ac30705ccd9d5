"""OpenAI's transcription model names, routed to Tympan's models by the language spoken.

``whisper-1``, ``gpt-4o-transcribe``, ``gpt-4o-mini-transcribe`` (and their dated variants),
``gpt-transcribe`` and ``gpt-4o-transcribe-diarize`` are multilingual at OpenAI. Tympan maps
each (``TYMPAN_OPENAI_ASR_MODELS``) to a model id, or to ``auto``: the multilingual base model
identifies the language from the start of the audio (4 s, or 30 s when unsure), then English
goes to tiny.en (faster, and more accurate on English than base) and every other language to
base. A given ``language`` skips the
identification; a translation always goes to base (tiny.en cannot translate).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from tympan.audio import Audio
from tympan.config import Settings
from tympan.models.manager import ModelManager
from tympan.tasks.asr.decoding import language_ranking
from tympan.tasks.asr.models import BASE_MODEL_ID, DEFAULT_MODEL_ID
from tympan.tasks.asr.pipeline import TranscribeOptions

__all__ = ["AUTO", "LanguageGuess", "identify_language", "openai_target", "route_model"]

AUTO = "auto"
_DATED = re.compile(r"-\d{4}-\d{2}-\d{2}$")


def openai_target(settings: Settings, name: str) -> str | None:
    """What an OpenAI model name (or a dated variant of one) maps to; None for other names."""
    return settings.openai_asr_models.get(_DATED.sub("", name))


@dataclass(frozen=True, slots=True)
class LanguageGuess:
    """The language heard, its probability, and the runners-up (most likely first)."""

    language: str
    probability: float
    ranking: list[tuple[str, float]]


async def identify_language(manager: ModelManager, audio: Audio, top: int = 5) -> LanguageGuess:
    """The language at the start of ``audio`` (4 s, or 30 s when unsure), by Whisper base."""
    ranking = await manager.infer(BASE_MODEL_ID, language_ranking, audio.samples, task="asr")
    best, probability = ranking[0]
    return LanguageGuess(best, probability, ranking[:top])


async def route_model(
    manager: ModelManager, settings: Settings, name: str, audio: Audio, options: TranscribeOptions
) -> tuple[str, TranscribeOptions]:
    """The model that serves a request for ``name``, and the options to serve it with (the
    identified language filled in, so it is not identified twice). Names that are not
    OpenAI's pass through unchanged."""
    target = openai_target(settings, name)
    if target is None:
        return name, options
    if target != AUTO:
        return target, options
    if options.task == "translate":
        return BASE_MODEL_ID, options
    if options.language is None:
        guess = await identify_language(manager, audio)
        options = replace(
            options, language=guess.language, language_probability=round(guess.probability, 4)
        )
    return (DEFAULT_MODEL_ID if options.language == "en" else BASE_MODEL_ID), options
