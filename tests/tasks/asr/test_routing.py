"""OpenAI model names routed by language: English to tiny.en, everything else to base."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tests.conftest import EVAL_DIR, make_settings, read_manifest
from tympan.audio import decode_audio
from tympan.tasks.asr import BASE_MODEL_ID, DEFAULT_MODEL_ID
from tympan.tasks.asr.decoding import language_ranking
from tympan.tasks.asr.pipeline import TranscribeOptions
from tympan.tasks.asr.routing import identify_language, openai_target, route_model

ENGLISH = EVAL_DIR / "asr_ljspeech" / "LJ001-0002.flac"


def _clip(language: str):
    row = next(r for r in read_manifest("multilingual") if r["language"] == language)
    return decode_audio(EVAL_DIR / "multilingual" / row["audio"])


def test_openai_names_and_their_dated_variants_map(tmp_path) -> None:
    settings = make_settings(tmp_path, openai_asr_models="whisper-1=auto,gpt-4o-transcribe=base")
    assert openai_target(settings, "whisper-1") == "auto"
    assert openai_target(settings, "gpt-4o-transcribe-2025-03-20") == "base"
    assert openai_target(settings, "tiny.en") is None
    defaults = make_settings(tmp_path).openai_asr_models
    assert {"whisper-1", "gpt-4o-mini-transcribe", "gpt-4o-transcribe-diarize"} <= set(defaults)


def test_routing_by_given_language_translation_and_identification(services) -> None:
    manager, settings = services.manager, services.settings
    english, german = decode_audio(ENGLISH), _clip("de")

    def route(name: str, audio, **options) -> tuple[str, str | None]:
        model, chosen = asyncio.run(
            route_model(manager, settings, name, audio, TranscribeOptions(**options))
        )
        return model, chosen.language

    assert route("whisper-1", english, language="en") == (DEFAULT_MODEL_ID, "en")
    assert route("whisper-1", english, language="fr") == (BASE_MODEL_ID, "fr")
    assert route("whisper-1", german, task="translate") == (BASE_MODEL_ID, None)
    assert route("gpt-4o-mini-transcribe", english) == (DEFAULT_MODEL_ID, "en")
    assert route("gpt-4o-transcribe", german) == (BASE_MODEL_ID, "de")
    assert route("tiny.en", german) == ("tiny.en", None)  # not an OpenAI name: as asked


@pytest.mark.parametrize("language", ["de", "es", "fr"])
def test_identification_ranks_the_spoken_language_first(services, language) -> None:
    guess = asyncio.run(identify_language(services.manager, _clip(language), top=3))
    assert guess.language == language and guess.probability > 0.5
    assert len(guess.ranking) == 3 and guess.ranking[0] == (language, guess.probability)


def test_language_id_on_the_speech_length_agrees_with_the_padded_window(services) -> None:
    """Reading only the speech (not 30 s of padding) names the same language as faster-whisper's
    own padded detect_language: one clip of every language, a 0.5 s clip, and a 40 s one."""
    clips = [_clip(row["language"]).samples for row in read_manifest("multilingual")[::4]]
    english = decode_audio(ENGLISH).samples
    clips += [english[:8000], np.tile(english, 6)[: 40 * 16_000]]
    with services.manager.use(BASE_MODEL_ID) as lease:
        for samples in clips:
            ours = language_ranking(lease.handle, samples)
            theirs = lease.handle.model.detect_language(audio=samples)
            assert ours[0][0] == theirs[0], (ours[:3], theirs[:2])
            assert ours == sorted(ours, key=lambda pair: -pair[1])
