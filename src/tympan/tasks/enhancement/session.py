"""``EnhancerSession``: the one shape every enhancer takes, a push-based stream at 16 kHz.

A session takes consecutive blocks of 16 kHz samples and returns enhanced samples as they
become ready; ``finish`` returns the rest. Whatever latency an enhancer has inside, the
samples a session returns in total are exactly as many as it was given, and aligned with them,
so an enhanced recording keeps every timestamp of the original. Long audio therefore streams
through any enhancer block by block, in memory bounded by the block size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

import numpy as np
import soxr

from tympan.config import SAMPLE_RATE

__all__ = ["Enhancer", "EnhancerSession", "FrameSession", "enhance_samples"]


class EnhancerSession(Protocol):
    """One stream through one enhancer (not shared between threads)."""

    def process(self, samples: np.ndarray) -> np.ndarray:
        """Enhanced samples ready after adding ``samples`` (possibly fewer: latency)."""
        ...

    def finish(self) -> np.ndarray:
        """The remaining enhanced samples; the total equals the samples given."""
        ...

    def close(self) -> None:
        """Release what the session holds (native state)."""
        ...


class Enhancer(Protocol):
    """A loaded enhancement model: it opens one session per stream.

    ``threads`` is how many of its sessions may run at once to good effect (their native
    code releases the GIL): a whole recording is enhanced in that many parts."""

    threads: int

    def session(self) -> EnhancerSession:
        """A fresh stream through this enhancer."""
        ...


class _LengthKeeper:
    """Holds back the output so that in total it matches the input, sample for sample."""

    def __init__(self) -> None:
        self.given = 0
        self.returned = 0

    def take(self, samples: np.ndarray, *, last: bool) -> np.ndarray:
        room = self.given - self.returned
        samples = samples[:room]
        if last and samples.shape[0] < room:
            samples = np.concatenate([samples, np.zeros(room - samples.shape[0], np.float32)])
        self.returned += samples.shape[0]
        return samples


class FrameSession:
    """A frame-by-frame native model (RNNoise, DeepFilterNet) at its own rate, seen at 16 kHz.

    Input is resampled once up to the model's rate with a streaming soxr resampler, cut into
    the model's frames, enhanced, and resampled once back. ``delay`` (in model-rate samples)
    is the model's own latency: that many output samples are dropped at the start and the end
    is flushed with silence, so output lines up with input.
    """

    def __init__(
        self,
        process_frame: Callable[[np.ndarray], np.ndarray],
        *,
        frame: int,
        rate: int,
        delay: int,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._process_frame = process_frame
        self._frame = frame
        self._delay_left = delay
        self._flush = delay + frame
        self._up = soxr.ResampleStream(SAMPLE_RATE, rate, 1, dtype="float32", quality="HQ")
        self._down = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
        self._pending = np.zeros(0, np.float32)
        self._length = _LengthKeeper()
        self._on_close = on_close

    def process(self, samples: np.ndarray) -> np.ndarray:
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        self._length.given += samples.shape[0]
        native = self._run_frames(self._up.resample_chunk(samples))
        return self._length.take(self._down.resample_chunk(native), last=False)

    def finish(self) -> np.ndarray:
        tail = self._up.resample_chunk(np.zeros(0, np.float32), last=True)
        native = self._run_frames(np.concatenate([tail, np.zeros(self._flush, np.float32)]))
        return self._length.take(self._down.resample_chunk(native, last=True), last=True)

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()
            self._on_close = None

    def _run_frames(self, native: np.ndarray) -> np.ndarray:
        pending = np.concatenate([self._pending, native])
        usable = pending.shape[0] - pending.shape[0] % self._frame
        outputs = [
            self._process_frame(pending[start : start + self._frame])
            for start in range(0, usable, self._frame)
        ]
        self._pending = pending[usable:]
        out = np.concatenate(outputs) if outputs else np.zeros(0, np.float32)
        if self._delay_left:
            dropped = min(self._delay_left, out.shape[0])
            out, self._delay_left = out[dropped:], self._delay_left - dropped
        return out


def enhance_samples(
    session: EnhancerSession, samples: np.ndarray, block: int
) -> Iterator[np.ndarray]:
    """Stream ``samples`` through ``session`` in blocks of ``block``; closes the session."""
    try:
        for start in range(0, samples.shape[0], block):
            out = session.process(samples[start : start + block])
            if out.size:
                yield out
        yield session.finish()
    finally:
        session.close()
