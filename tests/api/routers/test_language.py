"""``POST /v1/audio/language`` and OpenAI's names on the transcription endpoints."""

from __future__ import annotations

import openai
import pytest

from tests.conftest import EVAL_DIR, read_manifest
from tests.hostile import BAD_AUDIO_CASES, check_bad_audio
from tympan.client import Client

ROWS = {row["language"]: row for row in read_manifest("multilingual")}


def test_language_of_real_speech_with_runners_up(api: Client) -> None:
    for language in ("de", "es"):
        result = api.detect_language(EVAL_DIR / "multilingual" / ROWS[language]["audio"], top=3)
        assert result["language"] == language and result["model"] == "whisper-base"
        assert len(result["languages"]) == 3 and result["languages"][0]["language"] == language
        probabilities = [item["probability"] for item in result["languages"]]
        assert probabilities == sorted(probabilities, reverse=True)
    english = api.detect_language(EVAL_DIR / "asr_ljspeech" / "LJ001-0002.flac")
    assert english["language"] == "en" and english["name"] == "english"


@pytest.mark.parametrize("top", ["0", "21", "x"])
def test_bad_top_is_refused(api: Client, top: str) -> None:
    clip = (EVAL_DIR / "asr_ljspeech" / "LJ001-0002.flac").read_bytes()
    response = api._http.post(
        "/v1/audio/language", files={"file": ("a.flac", clip)}, data={"top": top}
    )
    assert response.status_code == 400 and response.json()["error"]["param"] == "top"


@pytest.mark.parametrize("case", BAD_AUDIO_CASES)
def test_bad_inputs_language(api: Client, case: dict) -> None:
    check_bad_audio(api, "/v1/audio/language", case)


def test_openai_names_transcribe_german_in_german_and_translate(live_server: str) -> None:
    client = openai.OpenAI(base_url=live_server + "/v1", api_key="unused", max_retries=0)
    german = (EVAL_DIR / "multilingual" / ROWS["de"]["audio"]).read_bytes()
    result = client.audio.transcriptions.create(
        model="gpt-4o-mini-transcribe", file=("de.flac", german), response_format="verbose_json"
    )
    assert result.language == "german"
    words = set(result.text.lower().split())
    reference = set(ROWS["de"]["text"].lower().split())
    assert len(words & reference) >= 0.4 * len(reference), result.text
    english = client.audio.transcriptions.create(
        model="whisper-1",
        file=("en.flac", (EVAL_DIR / "asr_ljspeech" / "LJ001-0002.flac").read_bytes()),
    )
    assert "comparatively modern" in english.text.lower()
    with pytest.warns(DeprecationWarning):
        translated = client.audio.translations.create(model="whisper-1", file=("de.flac", german))
    assert len(translated.text.split()) > 5 and translated.text.isascii()
    card = client.models.retrieve("whisper-1")
    assert card.id == "whisper-1" and card.model_dump()["backend"] == "route"
