"""Which Whisper model serves a request: OpenAI names are multilingual, English stays fast.

An OpenAI model name (``whisper-1``, ``gpt-4o-transcribe``...) maps through the
``asr_openai_models`` setting to a Tympan model id or to ``auto``. ``auto`` identifies the
language with the multilingual base model (first 30 s), then decodes English with tiny.en
(today's speed and accuracy) and every other language, and all translation, with base.
"""

from __future__ import annotations

from dataclasses import dataclass

from tympan.audio.types import Audio
from tympan.config import Settings
from tympan.errors import InvalidAudio
from tympan.models.manager import ModelManager
from tympan.tasks.asr.languages import language_name
from tympan.tasks.asr.models import BASE_MODEL_ID, DEFAULT_MODEL_ID, WhisperHandle

__all__ = [
    "AUTO_ROUTE",
    "LanguageCandidate",
    "LanguageGuess",
    "LanguageReport",
    "Route",
    "identify_language",
    "route_request",
]

AUTO_ROUTE = "auto"
_ID_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class LanguageGuess:
    """The most likely languages of a recording, best first, as (ISO code, probability)."""

    ranked: list[tuple[str, float]]

    @property
    def language(self) -> str:
        """The most likely language's code."""
        return self.ranked[0][0]

    @property
    def probability(self) -> float:
        """The probability of the most likely language."""
        return self.ranked[0][1]


@dataclass(frozen=True, slots=True)
class LanguageCandidate:
    """One language: ISO code, Whisper's name for it, probability."""

    language: str
    name: str
    probability: float


@dataclass(frozen=True, slots=True)
class LanguageReport:
    """``/v1/audio/language``'s answer: the likeliest language and the top candidates."""

    language: str
    name: str
    probability: float
    candidates: list[LanguageCandidate]
    duration: float

    @classmethod
    def of(cls, guess: LanguageGuess, top: int, duration: float) -> LanguageReport:
        """The ``top`` best candidates of ``guess`` for audio of ``duration`` seconds."""
        candidates = [
            LanguageCandidate(code, language_name(code), round(probability, 4))
            for code, probability in guess.ranked[:top]
        ]
        best = candidates[0]
        return cls(best.language, best.name, best.probability, candidates, round(duration, 3))


@dataclass(frozen=True, slots=True)
class Route:
    """The model that decodes a request, its language, and the language ID that chose them."""

    model_id: str
    language: str | None
    guess: LanguageGuess | None = None


def _ranked_languages(handle: WhisperHandle, audio: Audio) -> LanguageGuess:
    samples = audio.slice(0.0, min(audio.duration, _ID_SECONDS)).samples
    _, _, probabilities = handle.model.detect_language(audio=samples)
    ranked = sorted(((code, float(p)) for code, p in probabilities), key=lambda x: -x[1])
    return LanguageGuess(ranked)


async def identify_language(manager: ModelManager, audio: Audio) -> LanguageGuess:
    """Language ID with the bundled multilingual base model, in the inference pool."""
    if audio.samples.size == 0:
        raise InvalidAudio("The audio has no samples; there is no language to identify.")
    return await manager.infer(
        BASE_MODEL_ID, lambda handle: _ranked_languages(handle, audio), task="asr"
    )


async def route_request(
    manager: ModelManager,
    settings: Settings,
    audio: Audio,
    model: str | None,
    *,
    language: str | None,
    translate: bool,
) -> Route:
    """The model (and language) for a request naming ``model`` (``None``: ``whisper-1``).

    Names outside ``asr_openai_models`` are Tympan ids or aliases, served as asked.
    """
    target = settings.asr_openai_models.get(model or "whisper-1", model)
    if target is None or audio.samples.size == 0:
        return Route(target or DEFAULT_MODEL_ID, language)
    if target != AUTO_ROUTE:
        return Route(target, language)
    if translate:
        return Route(BASE_MODEL_ID, language)
    if language:
        return Route(DEFAULT_MODEL_ID if language == "en" else BASE_MODEL_ID, language)
    guess = await identify_language(manager, audio)
    chosen = DEFAULT_MODEL_ID if guess.language == "en" else BASE_MODEL_ID
    return Route(chosen, guess.language, guess)
