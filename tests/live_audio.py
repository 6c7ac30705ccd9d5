"""Real speech as live audio for the streaming tests: PCM bytes, silence, and WER."""

from __future__ import annotations

from pathlib import Path

import jiwer
import numpy as np
from whisper_normalizer.english import EnglishTextNormalizer

from tympan.audio import decode_audio

__all__ = ["pcm16", "silence", "speech", "wer"]

_normalise = EnglishTextNormalizer()


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate after Whisper's English normaliser."""
    return jiwer.wer(_normalise(reference), _normalise(hypothesis))


def speech(path: Path) -> np.ndarray:
    """A recording's 16 kHz samples."""
    return decode_audio(path).samples


def silence(seconds: float) -> np.ndarray:
    """Digital silence at 16 kHz."""
    return np.zeros(round(seconds * 16_000), np.float32)


def pcm16(samples: np.ndarray) -> bytes:
    """16-bit little-endian PCM of float samples."""
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
