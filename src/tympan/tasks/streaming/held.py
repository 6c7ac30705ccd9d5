"""``HeldAudio``: the audio a live session still holds, and the Silero probability of each of
its 32 ms frames.

Audio comes in chunks of any length; ``add`` keeps it and hands out the whole frames not
scored yet (a frame's remainder waits for the next chunk), whose probabilities come back with
``scored``. Sample and frame numbers count from the start of the session, so a turn keeps its
place while the audio before it is forgotten (``trim``) once it is committed.
"""

from __future__ import annotations

import math

import numpy as np

from tympan.tasks.vad.segments import FRAME_SAMPLES

__all__ = ["HeldAudio"]


class HeldAudio:
    """A session's samples from ``start`` on, with their frame probabilities."""

    def __init__(self) -> None:
        self.start = 0  # the first sample held, in the session's numbering (a whole frame)
        self.samples = np.zeros(0, np.float32)
        self.probabilities = np.zeros(0, np.float32)  # frames from ``start`` on
        self._tail = np.zeros(0, np.float32)  # samples short of a whole frame

    @property
    def received(self) -> int:
        """Samples received since the session began."""
        return self.start + self.samples.shape[0]

    def add(self, samples: np.ndarray) -> tuple[int, np.ndarray]:
        """Keep ``samples``; the number of the first whole frame they complete and those
        frames (frames x 512), to be scored in order."""
        first_frame = self.received // FRAME_SAMPLES
        self.samples = np.concatenate([self.samples, samples])
        pending = np.concatenate([self._tail, samples])
        whole = pending.shape[0] - pending.shape[0] % FRAME_SAMPLES
        self._tail = pending[whole:]
        return first_frame, pending[:whole].reshape(-1, FRAME_SAMPLES)

    def scored(self, probabilities: np.ndarray) -> None:
        """Keep the probabilities of the frames ``add`` handed out last."""
        self.probabilities = np.concatenate([self.probabilities, probabilities])

    def trim(self, sample: int) -> None:
        """Forget the audio before ``sample`` (rounded down to a whole frame)."""
        frames = sample // FRAME_SAMPLES - self.start // FRAME_SAMPLES
        if frames <= 0:
            return
        self.samples = self.samples[frames * FRAME_SAMPLES :]
        self.probabilities = self.probabilities[frames:]
        self.start += frames * FRAME_SAMPLES

    def between(self, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        """A copy of the samples ``[start, end)`` and their frame probabilities (``start`` at
        or after ``self.start``)."""
        first, last = start - self.start, end - self.start
        frame0 = first // FRAME_SAMPLES
        frames = math.ceil(max(0, last - first) / FRAME_SAMPLES)
        return self.samples[first:last].copy(), self.probabilities[frame0 : frame0 + frames]

    def release(self) -> None:
        """Drop every sample held (the session is closed)."""
        self.samples = self.probabilities = np.zeros(0, np.float32)
