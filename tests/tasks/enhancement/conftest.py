"""Real speech (LJSpeech) mixed with real noise (a test-split recording) at a set SNR."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import EVAL_DIR
from tympan.audio import Audio, decode_audio
from tympan.tasks.enhancement import DeepFilterNet, Enhancer, RNNoise, SpectralGating

SPEECH = EVAL_DIR / "asr_ljspeech" / "LJ001-0001.flac"
NOISE = EVAL_DIR / "noise" / "audio" / "blanket__rain.opus"
CLIP_SECONDS = 4.0


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``speech`` plus ``noise`` (looped or cut to its length) scaled to ``snr_db``."""
    noise = np.resize(noise, speech.shape[0])
    gain = np.sqrt(np.mean(speech**2) / (np.mean(noise**2) * 10 ** (snr_db / 10)))
    return (speech + gain * noise).astype(np.float32)


def si_sdr_db(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio of ``estimate`` against ``reference``."""
    scale = np.dot(estimate, reference) / np.dot(reference, reference)
    target = scale * reference
    return float(10 * np.log10(np.sum(target**2) / (np.sum((estimate - target) ** 2) + 1e-20)))


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
