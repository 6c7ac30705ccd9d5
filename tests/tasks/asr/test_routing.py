"""``tympan.tasks.asr.routing``: OpenAI names routed by language ID with the real base model."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.conftest import EVAL_DIR, make_settings, read_manifest
from tympan.api.services import Services
from tympan.audio import decode_audio
from tympan.tasks.asr import BASE_MODEL_ID, DEFAULT_MODEL_ID
from tympan.tasks.asr.routing import Route, identify_language, route_request

MULTI = EVAL_DIR / "multilingual"
FIRST_OF_EACH = {row["language"]: row for row in reversed(read_manifest("multilingual"))}


def _route(
    services: Services,
    path: Path,
    model: str | None,
    language: str | None = None,
    translate: bool = False,
) -> Route:
    audio = decode_audio(path)
    return asyncio.run(
        route_request(
            services.manager,
            services.settings,
            audio,
            model,
            language=language,
            translate=translate,
        )
    )


@pytest.mark.parametrize("code", ["de", "ja", "hi"])
def test_language_is_identified(services: Services, code: str) -> None:
    audio = decode_audio(MULTI / FIRST_OF_EACH[code]["audio"])
    guess = asyncio.run(identify_language(services.manager, audio))
    assert guess.language == code and 0.5 < guess.probability <= 1.0
    assert [p for _, p in guess.ranked] == sorted((p for _, p in guess.ranked), reverse=True)


def test_english_goes_to_tiny_en_and_other_languages_to_base(services: Services) -> None:
    english = EVAL_DIR / "asr_small" / "whisper_jfk.flac"
    route = _route(services, english, "gpt-4o-transcribe")
    assert (route.model_id, route.language) == (DEFAULT_MODEL_ID, "en")
    assert route.guess is not None and route.guess.probability > 0.5
    french = MULTI / FIRST_OF_EACH["fr"]["audio"]
    assert _route(services, french, None).model_id == BASE_MODEL_ID


def test_language_translation_and_tympan_ids_skip_language_id(services: Services) -> None:
    english = EVAL_DIR / "asr_small" / "whisper_jfk.flac"
    assert _route(services, english, "whisper-1", language="de").model_id == BASE_MODEL_ID
    assert _route(services, english, "whisper-1", language="en").guess is None
    assert _route(services, english, "whisper-1", translate=True).model_id == BASE_MODEL_ID
    assert _route(services, english, "tiny.en").model_id == "tiny.en"


def test_mapping_is_configurable(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, asr_openai_models="whisper-1=whisper-base,gpt-x=auto")
    assert settings.asr_openai_models == {"whisper-1": "whisper-base", "gpt-x": "auto"}
