"""``POST /v1/audio/enhancements`` and the ``noise_reduction`` field of the other endpoints."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile

from tests.conftest import EVAL_DIR
from tests.hostile import BAD_AUDIO_CASES, check_bad_audio
from tests.noisy_audio import noisy_speech
from tympan.audio.encode import encode_audio
from tympan.client import Client
from tympan.errors import InvalidParameter, ModelNotFound
from tympan.tasks.enhancement.snr import si_sdr


@pytest.fixture(scope="module")
def noisy_wav() -> tuple[bytes, np.ndarray, np.ndarray]:
    noisy, clean = noisy_speech(0.0)
    return encode_audio(noisy, 16_000, "wav"), noisy, clean


@pytest.mark.parametrize("model", [None, "rnnoise", "noisereduce"])
def test_enhanced_audio_is_cleaner_same_length_and_streamed(api: Client, noisy_wav, model) -> None:
    data, noisy, clean = noisy_wav
    body = api.enhance(data, model=model, response_format="wav")
    out, rate = soundfile.read(io.BytesIO(body), dtype="float32")
    assert rate == 16_000 and out.shape == noisy.shape
    assert si_sdr(clean, out) - si_sdr(clean, noisy) > 1.0


def test_formats_and_headers(api: Client, noisy_wav) -> None:
    data = noisy_wav[0]
    response = api._http.post(
        "/v1/audio/enhancements",
        files={"file": ("noisy.wav", data)},
        data={"response_format": "mp3", "model": "rnnoise"},
    )
    assert response.status_code == 200 and response.headers["content-type"] == "audio/mpeg"
    assert response.headers["x-tympan-model"] == "rnnoise"
    assert response.content[:3] == b"ID3" or response.content[0] == 0xFF
    assert {m["id"] for m in api.models(task="enhancement")} == {
        "deepfilternet3",
        "rnnoise",
        "noisereduce",
    }


def test_unknown_model_and_format_are_refused(api: Client, noisy_wav) -> None:
    with pytest.raises(ModelNotFound):
        api.enhance(noisy_wav[0], model="no-such-model")
    with pytest.raises(ModelNotFound):
        api.enhance(noisy_wav[0], model="tiny.en")  # a model, not an enhancer
    response = api._http.post(
        "/v1/audio/enhancements",
        files={"file": ("noisy.wav", noisy_wav[0])},
        data={"response_format": "midi"},
    )
    assert response.status_code == 400 and response.json()["error"]["param"] == "response_format"


@pytest.mark.parametrize("case", BAD_AUDIO_CASES)
def test_bad_inputs_enhance(api: Client, case: dict) -> None:
    check_bad_audio(api, "/v1/audio/enhancements", case, {"model": "rnnoise"})
    assert api.health()["status"] == "ok"


def test_noise_reduction_on_other_endpoints(api: Client, noisy_wav) -> None:
    """The SDK passes ``noise_reduction`` to every endpoint that takes it."""
    data = noisy_wav[0]
    for choice in ("none", "near_field", "far_field", "auto", "noisereduce"):
        assert api.vad(data, noise_reduction=choice).segments, choice
    clean = EVAL_DIR / "asr_ljspeech" / "LJ001-0002.flac"
    text = api.transcribe(clean, model="tiny.en", noise_reduction="near_field").text
    assert "modern" in text.lower()
    assert api.diarize(data, noise_reduction="rnnoise").segments
    with pytest.raises(InvalidParameter) as error:
        api.vad(data, noise_reduction="loud")
    assert error.value.param == "noise_reduction"
    with pytest.raises(InvalidParameter):
        api.identify_speaker(data, noise_reduction="loud")


def test_verify_reduces_the_noise_of_both_files(api: Client, noisy_wav) -> None:
    """Only ``file`` enhanced would score the same noisy recording against itself below 1."""
    data = noisy_wav[0]
    verification = api.verify_speaker(data, file2=data, noise_reduction="rnnoise")
    assert verification.score == pytest.approx(1.0, abs=1e-4)


def test_enrollment_reduces_the_noise_of_its_samples(api: Client, noisy_wav) -> None:
    """Enrolled from a noisy clip with rnnoise, the voiceprint is the enhanced clip's embedding."""
    data = noisy_wav[0]
    speaker = api.enroll_speaker("noisy-enrollee", data, noise_reduction="rnnoise")
    try:
        api.add_speaker_samples(speaker.id, data, noise_reduction="rnnoise")
        enhanced = api.post_audio("/v1/audio/enhancements", data, {"model": "rnnoise"}).content
        same = api.verify_speaker(enhanced, speaker_id=speaker.id)
        raw = api.verify_speaker(data, speaker_id=speaker.id)
        assert same.score > raw.score and same.score == pytest.approx(1.0, abs=0.02)
        with pytest.raises(InvalidParameter) as error:
            api.add_speaker_samples(speaker.id, data, noise_reduction="loud")
        assert error.value.param == "noise_reduction"
        assert api.speaker(speaker.id).num_samples == 2
    finally:
        api.delete_speaker(speaker.id)


@pytest.mark.parametrize("model", [None, "rnnoise"])
def test_pure_noise_comes_back_quieter_and_clipped_speech_intact(
    api: Client, noisy_wav, model
) -> None:
    """Two inputs users send by mistake or from bad microphones: a recording with no speech
    at all is turned down, not amplified into artefacts; speech clipped hard (x8, cut at full
    scale) comes back as long as it went in, finite and within full scale."""
    _, noisy, clean = noisy_wav
    noise_only = noisy - clean
    clipped = np.clip(clean * 8.0, -1.0, 1.0)
    outputs = []
    for samples in (noise_only, clipped):
        body = api.enhance(encode_audio(samples, 16_000, "wav"), model=model, response_format="wav")
        out, rate = soundfile.read(io.BytesIO(body), dtype="float32")
        assert rate == 16_000 and out.shape == samples.shape
        assert np.all(np.isfinite(out)) and np.max(np.abs(out)) <= 1.0
        outputs.append(out)
    assert _rms(outputs[0]) < 0.5 * _rms(noise_only)
    assert _rms(outputs[1]) > 0.5 * _rms(clipped)  # the speech is still there
    assert api.health()["status"] == "ok"


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples))))
