"""Frequency-domain VAD: speech-band energy and spectral flatness per frame.

Speech concentrates energy in 300-4000 Hz and is harmonic (low flatness); broadband noise is
flat. A frame's probability combines its band energy against an adaptive threshold with how
far its flatness is below that of noise.
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage

from tympan.audio.types import Audio
from tympan.config import SAMPLE_RATE
from tympan.tasks.vad.energy import adaptive_threshold
from tympan.tasks.vad.segments import FRAME_SAMPLES, grid_blocks

__all__ = ["spectral_probabilities"]

_BAND_HZ = (300.0, 4000.0)
_NOISE_FLATNESS = 0.45  # white noise's power-spectrum flatness is about 0.56


def _frame_stats(frames: np.ndarray) -> np.ndarray:
    """Speech-band energy (dB) and spectral flatness of each frame, shape ``(frames, 2)``."""
    window = np.hanning(FRAME_SAMPLES).astype(np.float32)
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2 + 1e-12
    freqs = np.fft.rfftfreq(FRAME_SAMPLES, 1 / SAMPLE_RATE)
    in_band = power[:, (freqs >= _BAND_HZ[0]) & (freqs <= _BAND_HZ[1])]
    band_db = 10 * np.log10(in_band.sum(axis=1) / FRAME_SAMPLES)
    flatness = np.exp(np.mean(np.log(in_band), axis=1)) / np.mean(in_band, axis=1)
    return np.stack([band_db, flatness], axis=1)


def spectral_probabilities(audio: Audio) -> np.ndarray:
    """Per-frame speech probability from band energy and spectral flatness."""
    stats = np.concatenate([_frame_stats(frames) for frames in grid_blocks(audio)])
    band_db, flatness = stats[:, 0], stats[:, 1]
    if band_db.max() < -50.0:
        return np.zeros(stats.shape[0], np.float32)
    threshold, _ = adaptive_threshold(band_db)
    loud = 1.0 / (1.0 + np.exp(-np.clip((band_db - threshold) / 3.0, -30, 30)))
    tonal = 1.0 / (1.0 + np.exp(-np.clip((_NOISE_FLATNESS - flatness) / 0.08, -30, 30)))
    probability = loud * (0.4 + 0.6 * tonal)
    probability = scipy.ndimage.median_filter(probability, size=5, mode="nearest")
    return np.clip(probability / 0.8, 0.0, 1.0).astype(np.float32)
