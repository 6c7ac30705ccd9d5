"""``POST /v1/audio/enhancements`` through the SDK: real noisy speech, every hostile file."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soxr

from tests.conftest import make_settings
from tests.hostile import BAD_AUDIO_CASES, check_bad_audio
from tests.noisy_speech import CLIP_SECONDS, NOISE, SPEECH, mix_at_snr, si_sdr_db
from tympan.audio import decode_audio
from tympan.audio.encode import PCM_RATE, encode_audio
from tympan.client import Client
from tympan.config import SAMPLE_RATE
from tympan.errors import BudgetExceeded, InvalidParameter, ModelNotFound

ENDPOINT = "/v1/audio/enhancements"


@pytest.fixture(scope="module")
def clean() -> np.ndarray:
    return decode_audio(SPEECH).slice(0.0, CLIP_SECONDS).samples


@pytest.fixture(scope="module")
def noisy_wav(clean: np.ndarray) -> bytes:
    """The 5 dB mixture as a 16 kHz WAV upload."""
    mixed = mix_at_snr(clean, decode_audio(NOISE).samples, 5.0)
    return encode_audio(mixed, SAMPLE_RATE, "wav")


def _samples(data: bytes, response_format: str) -> np.ndarray:
    if response_format == "pcm":
        raw = np.frombuffer(data, "<i2").astype(np.float32) / 32768
        return soxr.resample(raw, PCM_RATE, SAMPLE_RATE)
    return decode_audio(io.BytesIO(data)).samples


@pytest.mark.parametrize("model", [None, "deepfilternet3", "rnnoise", "noisereduce"])
def test_each_model_cleans_real_noisy_speech(api: Client, noisy_wav, clean, model) -> None:
    enhanced = _samples(api.enhance(noisy_wav, model=model), "wav")
    assert enhanced.shape == clean.shape
    noisy = decode_audio(io.BytesIO(noisy_wav)).samples
    assert si_sdr_db(enhanced, clean) > si_sdr_db(noisy, clean) + 1.0


@pytest.mark.parametrize("response_format", ["flac", "mp3", "opus", "pcm"])
def test_every_response_format_decodes_to_the_same_length(
    api: Client, noisy_wav, clean, response_format
) -> None:
    data = api.enhance(noisy_wav, model="rnnoise", response_format=response_format)
    # MP3 and Opus pad by encoder delay and frames (~0.1 s)
    assert abs(_samples(data, response_format).shape[0] - clean.shape[0]) < 0.15 * SAMPLE_RATE


def test_headers_name_the_model_and_stream_type(api: Client, noisy_wav) -> None:
    response = api._http.post(ENDPOINT, files={"file": ("n.wav", noisy_wav)})
    assert response.status_code == 200
    assert response.headers["x-tympan-model"] == "deepfilternet3"
    assert response.headers["content-type"] == "audio/wav"


def test_models_lists_the_enhancers(api: Client) -> None:
    ids = [card["id"] for card in api.models("enhancement")]
    assert ids == ["deepfilternet3", "rnnoise", "noisereduce"]


def test_unknown_model_gets_404(api: Client, noisy_wav) -> None:
    with pytest.raises(ModelNotFound) as info:
        api.enhance(noisy_wav, model="whisper-1")  # a model, but not an enhancer
    assert info.value.param == "model"
    assert api.health()["status"] == "ok"


def test_bad_response_format_gets_422(api: Client, noisy_wav) -> None:
    with pytest.raises(InvalidParameter) as info:
        api.enhance(noisy_wav, response_format="midi")  # type: ignore[arg-type]
    assert info.value.status == 422
    assert "response_format" in (info.value.param or "")


def test_missing_file_gets_422(api: Client) -> None:
    response = api._http.post(ENDPOINT, data={"model": "rnnoise"})
    assert response.status_code == 422
    assert response.json()["error"]["param"] == "file"


def test_audio_over_the_request_budget_gets_413_naming_it(tmp_path, noisy_wav) -> None:
    settings = make_settings(tmp_path, max_request_audio_seconds=2.0)
    with Client.in_process(settings) as small, pytest.raises(BudgetExceeded) as info:
        small.enhance(noisy_wav, model="rnnoise")
    assert "TYMPAN_MAX_REQUEST_AUDIO_SECONDS" in info.value.message


@pytest.mark.parametrize("case", BAD_AUDIO_CASES)
def test_hostile_files(api: Client, case) -> None:
    response = check_bad_audio(api, ENDPOINT, case, {"model": "rnnoise"})
    if response.status_code == 200:
        samples = decode_audio(io.BytesIO(response.content)).samples
        assert np.all(np.isfinite(samples))
