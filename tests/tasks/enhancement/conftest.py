"""Real speech (LJSpeech) mixed with real noise (a test-split recording) at a set SNR."""

from __future__ import annotations

import pytest

from tests.noisy_speech import CLIP_SECONDS, NOISE, SPEECH, mix_at_snr
from tympan.audio import Audio, decode_audio
from tympan.tasks.enhancement import DeepFilterNet, Enhancer, RNNoise, SpectralGating


@pytest.fixture(scope="session")
def clean_speech() -> Audio:
    return decode_audio(SPEECH).slice(0.0, CLIP_SECONDS)


@pytest.fixture(scope="session")
def noisy_speech(clean_speech: Audio) -> Audio:
    noise = decode_audio(NOISE).samples
    return Audio.from_array(mix_at_snr(clean_speech.samples, noise, 5.0))


@pytest.fixture(scope="session")
def deepfilternet() -> DeepFilterNet:
    model = DeepFilterNet()
    yield model
    model.close()


@pytest.fixture(scope="session")
def rnnoise() -> RNNoise:
    return RNNoise()


@pytest.fixture(scope="session")
def spectral_gating() -> SpectralGating:
    return SpectralGating()


@pytest.fixture(params=["deepfilternet", "rnnoise", "spectral_gating"])
def enhancer(request: pytest.FixtureRequest) -> Enhancer:
    """Each bundled enhancer in turn (each loaded once per session)."""
    return request.getfixturevalue(request.param)
