"""``POST /v1/audio/vad`` through the SDK: real conversations, every hostile file."""

from __future__ import annotations

import pytest

from tests.hostile import BAD_AUDIO_CASES, check_bad_audio
from tests.tasks.test_vad import frame_f1, hypothesis_mask, reference_mask
from tympan.errors import InvalidParameter


@pytest.mark.parametrize("method", [None, "silero", "energy", "spectral", "fusion"])
def test_vad_finds_reference_speech(api, eval_dir, method) -> None:
    result = api.vad(eval_dir / "diarization" / "sample.wav", method)
    assert result.method == (method or "fusion")
    assert result.duration == pytest.approx(30.0)
    reference = reference_mask("sample.rttm", 30.0)
    assert frame_f1(reference, hypothesis_mask(result, 30.0)) > 0.95


def test_thresholds_change_the_result(api, eval_dir) -> None:
    path = eval_dir / "diarization" / "ami_ES2003a_0000_0030.flac"
    loose = api.vad(path, "silero", threshold=0.2, min_silence_ms=2000)
    strict = api.vad(path, "silero", threshold=0.9, min_silence_ms=50)
    assert loose.speech_ratio > strict.speech_ratio
    assert len(loose.segments) < len(strict.segments)


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"method": "psychic"}, "method"),
        ({"threshold": 2}, "threshold"),
        ({"threshold": "high"}, "threshold"),
        ({"min_speech_ms": -5}, "min_speech_ms"),
        ({"neg_threshold": 0.8, "threshold": 0.5}, "neg_threshold"),
    ],
)
def test_bad_parameters_get_400(api, eval_dir, fields, param) -> None:
    with pytest.raises(InvalidParameter) as info:
        api.post_audio("/v1/audio/vad", eval_dir / "bad_inputs" / "speech.ogg", fields)
    assert info.value.status == 400
    assert param in (info.value.param or "")


def test_missing_file_gets_400(api) -> None:
    response = api._http.post("/v1/audio/vad", data={"method": "energy"})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "file"


@pytest.mark.parametrize("case", BAD_AUDIO_CASES)
@pytest.mark.parametrize("method", ["silero", "energy"])
def test_bad_inputs(api, case, method) -> None:
    response = check_bad_audio(api, "/v1/audio/vad", case, {"method": method})
    if case["file"].startswith("speech") and response.status_code == 200:
        assert response.json()["segments"], "the spoken sentence was missed"
