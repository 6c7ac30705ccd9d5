"""``Audio``: what every input becomes at the boundary."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tympan.config import SAMPLE_RATE

__all__ = ["Audio", "SourceInfo"]


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What the input was before the boundary converted it."""

    container: str = "raw"
    codec: str = "pcm_f32le"
    sample_rate: int = SAMPLE_RATE
    channels: int = 1
    num_bytes: int = 0
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Audio:
    """Mono float32 samples at ``SAMPLE_RATE`` plus where they came from."""

    samples: np.ndarray
    sample_rate: int = SAMPLE_RATE
    source: SourceInfo = field(default_factory=SourceInfo)

    def __post_init__(self) -> None:
        if self.samples.ndim != 1 or self.samples.dtype != np.float32:
            raise ValueError("Audio samples must be a 1-D float32 array")

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.samples.shape[0] / self.sample_rate

    @classmethod
    def from_array(cls, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Audio:
        """Wrap samples already at ``SAMPLE_RATE`` (tests, synthesis, in-process callers)."""
        if sample_rate != SAMPLE_RATE:
            raise ValueError(f"from_array takes {SAMPLE_RATE} Hz samples; decode others")
        return cls(np.ascontiguousarray(samples, dtype=np.float32))

    def slice(self, start: float, end: float) -> Audio:
        """The part between ``start`` and ``end`` seconds (clamped to the audio)."""
        first = max(0, round(start * self.sample_rate))
        last = min(self.samples.shape[0], round(end * self.sample_rate))
        return Audio(self.samples[first : max(first, last)], self.sample_rate, self.source)
