"""Noisy speech built honestly: real LJSpeech speech plus a real test-split noise recording."""

from __future__ import annotations

import numpy as np

from tests.conftest import EVAL_DIR

__all__ = ["CLIP_SECONDS", "NOISE", "SPEECH", "mix_at_snr", "si_sdr_db"]

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
