"""A blind estimate of a recording's signal-to-noise ratio, for ``noise_reduction=auto``.

Speech comes and goes while background noise stays, so the quietest 20 ms frames of a
recording measure the noise floor and the loudest ones speech plus noise. The estimate is
``10 log10((P_loud - P_quiet) / P_quiet)``. It reads low on recordings without pauses and
high on bursty noise; ``auto`` only compares it with a threshold chosen on the measured
development noises (``benchmarks/bench_enhancement.py``), in the estimate's own units.
"""

from __future__ import annotations

import numpy as np

from tympan.audio import Audio

__all__ = ["estimate_snr_db"]

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
