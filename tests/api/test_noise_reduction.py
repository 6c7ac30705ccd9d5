"""``noise_reduction`` on the file endpoints: checked first, applied once after decoding."""

from __future__ import annotations

import io

import numpy as np
import pytest

from tests.noisy_speech import CLIP_SECONDS, NOISE, SPEECH, mix_at_snr
from tympan.audio import decode_audio
from tympan.audio.encode import encode_audio
from tympan.client import Client
from tympan.config import SAMPLE_RATE


def _wav(samples: np.ndarray) -> bytes:
    return encode_audio(samples, SAMPLE_RATE, "wav")


@pytest.fixture(scope="module")
def clean_wav() -> bytes:
    return _wav(decode_audio(SPEECH).slice(0.0, CLIP_SECONDS).samples)


@pytest.fixture(scope="module")
def very_noisy_wav() -> bytes:
    """-5 dB true SNR: the blind estimate reads about 2 dB, under ``auto``'s 5 dB."""
    clean = decode_audio(SPEECH).slice(0.0, CLIP_SECONDS).samples
    return _wav(mix_at_snr(clean, decode_audio(NOISE).samples, -5.0))


def _features(api: Client, wav: bytes, noise_reduction: str | None) -> np.ndarray:
    fields = {"kind": "log_mel", "format": "npy"}
    if noise_reduction is not None:
        fields["noise_reduction"] = noise_reduction
    response = api._http.post("/v1/audio/features", files={"file": ("a.wav", wav)}, data=fields)
    assert response.status_code == 200, response.text
    return np.load(io.BytesIO(response.content), allow_pickle=False)


def test_named_enhancer_lowers_the_noise_floor(api: Client, very_noisy_wav) -> None:
    plain = _features(api, very_noisy_wav, None)
    reduced = _features(api, very_noisy_wav, "near_field")
    assert plain.shape == reduced.shape  # same length and timing
    # the quietest tenth of frames (noise only) is far quieter after reduction
    floor = lambda mel: np.percentile(mel.mean(axis=1), 10)  # noqa: E731
    assert floor(reduced) < floor(plain) - 1.0


def test_none_is_the_default(api: Client, very_noisy_wav) -> None:
    np.testing.assert_array_equal(
        _features(api, very_noisy_wav, None), _features(api, very_noisy_wav, "none")
    )


def test_auto_leaves_clean_speech_alone(api: Client, clean_wav) -> None:
    np.testing.assert_array_equal(
        _features(api, clean_wav, "auto"), _features(api, clean_wav, None)
    )


def test_auto_enhances_very_noisy_speech(api: Client, very_noisy_wav) -> None:
    auto = _features(api, very_noisy_wav, "auto")
    assert not np.array_equal(auto, _features(api, very_noisy_wav, None))


def test_verify_reduces_both_recordings(api: Client, very_noisy_wav) -> None:
    files = [("file", ("a.wav", very_noisy_wav)), ("file2", ("b.wav", very_noisy_wav))]
    response = api._http.post(
        "/v1/speakers/verify", files=files, data={"noise_reduction": "rnnoise"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["score"] == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize(
    "endpoint",
    ["/v1/audio/transcriptions", "/v1/audio/vad", "/v1/audio/diarization", "/v1/speakers/embed"],
)
def test_unknown_value_gets_422_naming_the_field_and_setting(
    api: Client, clean_wav, endpoint
) -> None:
    response = api._http.post(
        endpoint, files={"file": ("a.wav", clean_wav)}, data={"noise_reduction": "loud"}
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["param"] == "noise_reduction"
    assert "TYMPAN_NOISE_REDUCTION" in error["message"]
    assert "near_field" in error["message"]
    assert api.health()["status"] == "ok"


def test_transcription_accepts_noise_reduction(api: Client, clean_wav) -> None:
    response = api._http.post(
        "/v1/audio/transcriptions",
        files={"file": ("a.wav", clean_wav)},
        data={"model": "whisper-1", "noise_reduction": "far_field"},
    )
    assert response.status_code == 200, response.text
    assert "printing" in response.json()["text"].lower()
