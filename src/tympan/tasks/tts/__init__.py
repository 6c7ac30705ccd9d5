"""Text to speech with Piper, behind OpenAI's ``/v1/audio/speech``.

The bundled voice (en_US joe, medium) is the default model, also reachable as OpenAI's model
names; voices from local paths are registered by configuration (``tts_voices``). Every OpenAI
voice name speaks with an available voice (``tts_voice_map``, else the requested model's).
Text is phonemised into sentences and rendered and encoded one sentence at a time
(``plan_speech``, ``speak_chunk``, ``SpeechStream``), so long input streams; the rendering runs
wherever the voice's model is served (the pool, or a Ray Serve replica).
"""

from __future__ import annotations

from collections.abc import Sequence

from tympan.audio.encode import FORMATS, PCM_RATE, AudioEncoder, EncodedFormat
from tympan.config import Settings
from tympan.models.spec import ModelSpec, path_size
from tympan.tasks.tts.speech import (
    MAX_SPEED,
    MIN_SPEED,
    SpeechOptions,
    SpeechPlan,
    SpeechStream,
    plan_speech,
    speak_chunk,
)
from tympan.tasks.tts.synthesis import PiperSynthesizer
from tympan.tasks.tts.text import check_input, clean_text
from tympan.tasks.tts.voices import (
    DEFAULT_VOICE,
    OPENAI_VOICES,
    Voice,
    VoiceCard,
    bundled_voice,
    check_voice_map,
    piper_voice,
    resolve_voice,
    voice_cards,
)

__all__ = [
    "DEFAULT_MODEL_ID",
    "DEFAULT_VOICE",
    "FORMATS",
    "MAX_SPEED",
    "MIN_SPEED",
    "OPENAI_MODEL_ALIASES",
    "OPENAI_VOICES",
    "PCM_RATE",
    "TTS_TASK",
    "AudioEncoder",
    "EncodedFormat",
    "PiperSynthesizer",
    "SpeechOptions",
    "SpeechPlan",
    "SpeechStream",
    "Voice",
    "VoiceCard",
    "check_input",
    "check_voice_map",
    "clean_text",
    "configured_voices",
    "model_specs",
    "plan_speech",
    "resolve_voice",
    "speak_chunk",
    "voice_cards",
]

TTS_TASK = "tts"
DEFAULT_MODEL_ID = "piper-joe-medium"
OPENAI_MODEL_ALIASES = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
"""OpenAI's speech model names, all served by the default voice's model."""


def configured_voices(settings: Settings) -> list[Voice]:
    """The bundled voice, then every voice of ``tts_voices``; the voice map is checked too."""
    voices = [bundled_voice()]
    voices += [piper_voice(name, path) for name, path in settings.tts_voices.items()]
    names = [voice.name for voice in voices]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"tts_voices repeats the voice names {duplicates}.")
    check_voice_map(voices, settings.tts_voice_map)
    return voices


def _spec(voice: Voice, settings: Settings, aliases: Sequence[str] = ()) -> ModelSpec:
    return ModelSpec(
        id=voice.model_id,
        task=TTS_TASK,
        backend="piper+onnxruntime",
        source=voice.source,
        load=lambda: PiperSynthesizer(voice, settings.cpu_threads),
        aliases=tuple(aliases),
        description=f"Piper voice {voice.name!r} ({voice.language}, {voice.sample_rate} Hz)",
        size_bytes=path_size(voice.model_path),
        options={"voice": voice},
    )


def model_specs(settings: Settings) -> list[ModelSpec]:
    """One model per voice; the bundled one first (the default) with OpenAI's model names."""
    default, *others = configured_voices(settings)
    return [_spec(default, settings, OPENAI_MODEL_ALIASES), *(_spec(v, settings) for v in others)]
