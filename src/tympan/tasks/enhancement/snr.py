"""Signal-to-noise measures: a blind SNR estimate for ``noise_reduction=auto``, and the two
tools every enhancement measurement needs (speech mixed with noise at a set SNR, SI-SDR).

The blind estimate:

Speech comes and goes while background noise stays, so the quietest 20 ms frames of a
recording measure the noise floor and the loudest ones speech plus noise. The estimate is
``10 log10((P_loud - P_quiet) / P_quiet)``. It reads low on recordings without pauses and
high on bursty noise; ``auto`` only compares it with a threshold chosen on the measured
development noises (``benchmarks/bench_enhancement.py``), in the estimate's own units.
"""

from __future__ import annotations

import numpy as np

from tympan.audio import Audio

__all__ = ["estimate_snr_db", "mix_at_snr", "si_sdr"]

_FRAME = 320  # 20 ms at 16 kHz
_QUIET_PERCENTILE = 10.0
_LOUD_FRACTION = 0.3
_FLOOR = 1e-10
MAX_SNR_DB = 60.0
"""Reported for silence, digital zeros and anything cleaner."""


def estimate_snr_db(audio: Audio) -> float:
    """Estimated SNR of ``audio`` in dB (``MAX_SNR_DB`` when it has no measurable noise)."""
    count = audio.samples.shape[0] // _FRAME
    if count < 5:
        return MAX_SNR_DB
    frames = audio.samples[: count * _FRAME].reshape(count, _FRAME).astype(np.float64)
    power = np.sort(np.mean(frames**2, axis=1))
    quiet = float(np.percentile(power, _QUIET_PERCENTILE))
    loud = float(np.mean(power[-max(1, int(count * _LOUD_FRACTION)) :]))
    if quiet <= _FLOOR:
        return MAX_SNR_DB
    ratio = max(loud - quiet, 0.0) / quiet
    return float(min(MAX_SNR_DB, 10.0 * np.log10(max(ratio, 1e-3))))


def mix_at_snr(
    speech: np.ndarray, noise: np.ndarray, snr_db: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``speech`` plus a random stretch of ``noise`` (tiled if short) at ``snr_db``.

    Returns (mixture, reference): both scaled together so the mixture's peak is under 1.
    """
    if noise.shape[0] < speech.shape[0]:
        noise = np.tile(noise, speech.shape[0] // noise.shape[0] + 1)
    start = int(rng.integers(0, noise.shape[0] - speech.shape[0] + 1))
    stretch = noise[start : start + speech.shape[0]].astype(np.float64)
    speech_power = np.mean(speech.astype(np.float64) ** 2)
    noise_power = max(np.mean(stretch**2), 1e-12)
    stretch *= np.sqrt(speech_power / (noise_power * 10 ** (snr_db / 10)))
    mixture = speech + stretch
    scale = min(1.0, 0.95 / max(np.max(np.abs(mixture)), 1e-9))
    return (mixture * scale).astype(np.float32), (speech * scale).astype(np.float32)


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (Le Roux et al. 2019)."""
    reference = reference.astype(np.float64) - np.mean(reference)
    estimate = estimate.astype(np.float64) - np.mean(estimate)
    target = reference * np.dot(estimate, reference) / max(np.dot(reference, reference), 1e-12)
    noise = estimate - target
    return float(10 * np.log10(max(np.dot(target, target), 1e-12) / max(noise @ noise, 1e-12)))
