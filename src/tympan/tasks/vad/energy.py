"""Time-domain VAD: short-time energy plus zero-crossing rate with an adaptive threshold.

The threshold sits between the recording's own noise floor and speech level (low and high
percentiles of frame energy), so it adapts to gain and background. Frames just under the
energy threshold with a speech-like zero-crossing rate (unvoiced fricatives) still count.
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage

from tympan.audio.types import Audio
from tympan.tasks.vad.segments import grid_blocks

__all__ = ["energy_probabilities"]

_SILENT_DBFS = -60.0  # a recording whose loudest frame is quieter than this has no speech


def adaptive_threshold(levels_db: np.ndarray) -> tuple[float, float]:
    """(threshold, spread) between the noise floor and the speech level of ``levels_db``."""
    floor, peak = np.percentile(levels_db, [10, 95])
    spread = max(peak - floor, 1e-6)
    return float(floor + max(0.3 * spread, 6.0)), float(spread)


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(values, -30, 30)))


def _frame_stats(frames: np.ndarray) -> np.ndarray:
    """Energy (dB) and zero-crossing rate of each frame, shape ``(frames, 2)``."""
    energy_db = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    signs = np.signbit(frames)
    zcr = np.mean(signs[:, 1:] != signs[:, :-1], axis=1)
    return np.stack([energy_db, zcr], axis=1)


def energy_probabilities(audio: Audio) -> np.ndarray:
    """Per-frame speech probability from energy and zero-crossing rate."""
    stats = np.concatenate([_frame_stats(frames) for frames in grid_blocks(audio)])
    energy_db, zcr = stats[:, 0], stats[:, 1]
    if energy_db.max() < _SILENT_DBFS:
        return np.zeros(stats.shape[0], np.float32)
    threshold, _ = adaptive_threshold(energy_db)
    probability = _sigmoid((energy_db - threshold) / 3.0)
    fricative = (zcr > 0.2) & (zcr < 0.6) & (energy_db > threshold - 8.0)
    probability = np.where(fricative, np.maximum(probability, 0.6), probability)
    return scipy.ndimage.median_filter(probability, size=5, mode="nearest").astype(np.float32)
