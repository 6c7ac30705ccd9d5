"""``POST /v1/audio/language``: top languages of real FLEURS speech; hostile files answered."""

from __future__ import annotations

import pytest

from tests.conftest import EVAL_DIR, read_manifest
from tests.hostile import BAD_AUDIO_CASES, check_bad_audio
from tympan.client import Client

MULTI = EVAL_DIR / "multilingual"
ROWS = {row["language"]: row for row in read_manifest("multilingual")}


@pytest.mark.parametrize("code", ["fr", "zh"])
def test_language_of_real_speech(api: Client, code: str) -> None:
    report = api.identify_language(MULTI / ROWS[code]["audio"], top=3)
    assert report.language == code and report.candidates[0].language == code
    assert len(report.candidates) == 3 and report.probability > 0.5
    probabilities = [c.probability for c in report.candidates]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1.0001
    assert report.duration == pytest.approx(float(ROWS[code]["duration_s"]), abs=0.05)


def test_english_and_default_top(api: Client) -> None:
    report = api.identify_language(EVAL_DIR / "asr_small" / "whisper_jfk.flac")
    assert (report.language, report.name) == ("en", "english") and len(report.candidates) == 5


@pytest.mark.parametrize("top", ["0", "21", "x"])
def test_bad_top_is_a_422_naming_it(api: Client, top: str) -> None:
    audio = (MULTI / ROWS["de"]["audio"]).read_bytes()
    response = api._http.post(
        "/v1/audio/language", files={"file": ("a.flac", audio)}, data={"top": top}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["param"] == "top"


@pytest.mark.parametrize("case", BAD_AUDIO_CASES)
def test_hostile_files(api: Client, case: dict[str, str]) -> None:
    response = check_bad_audio(api, "/v1/audio/language", case)
    if response.status_code == 200:
        assert response.json()["candidates"]
