"""Whisper's log-mel input, computed exactly as faster-whisper computes it when serving.

faster-whisper pads the audio by one hop, drops the last frame and pads the *log-mel* with
zeros to 3000 frames (30 s); ``transformers``' own extractor pads the audio instead, which
gives different values in the padding. Training on what serving feeds the model keeps the
fine-tuned weights from learning a padding they will never see.
"""

from __future__ import annotations

import numpy as np
from faster_whisper.audio import pad_or_trim
from faster_whisper.feature_extractor import FeatureExtractor

__all__ = ["WINDOW_FRAMES", "log_mel"]

WINDOW_FRAMES = 3000


def log_mel(samples: np.ndarray, mel_bins: int = 80) -> np.ndarray:
    """The (mel_bins, 3000) float32 log-mel window of up to 30 s of 16 kHz ``samples``."""
    features = FeatureExtractor(feature_size=mel_bins)(samples)[..., :-1]
    return np.ascontiguousarray(pad_or_trim(features, WINDOW_FRAMES), dtype=np.float32)
