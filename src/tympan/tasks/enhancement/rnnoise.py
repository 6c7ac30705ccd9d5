"""RNNoise (Valin, Xiph): a small recurrent network over 48 kHz, 10 ms frames.

The network is compiled into the ``librnnoise`` that the ``pyrnnoise`` package ships, so it
runs offline with no weights to fetch. We call the package's own ctypes binding frame by frame
(its file-level helpers resample with another library and round to 16-bit on the way).
"""

from __future__ import annotations

import ctypes

import numpy as np

from tympan.tasks.enhancement.session import FrameSession

__all__ = ["RNNoise"]

_INT16_SCALE = 32768.0  # RNNoise works on 16-bit sample values held in floats
_FLOAT_P = ctypes.POINTER(ctypes.c_float)


class RNNoise:
    """The loaded RNNoise library; each ``session()`` has its own recurrent state."""

    threads = 1  # already past 20x real time on one core: parts would not pay their warm-up
    delay = 960
    """Output lags input by two 10 ms frames at 48 kHz (measured on speech; tests check it)."""

    def __init__(self) -> None:
        from pyrnnoise import rnnoise  # loads the bundled shared library

        self._binding = rnnoise
        self.rate: int = rnnoise.SAMPLE_RATE
        self.frame: int = rnnoise.FRAME_SIZE

    def session(self) -> FrameSession:
        """A fresh denoising stream."""
        binding = self._binding
        state = binding.create()
        out = np.zeros(self.frame, np.float32)

        def process_frame(frame: np.ndarray) -> np.ndarray:
            scaled = np.ascontiguousarray(frame * _INT16_SCALE, dtype=np.float32)
            binding.lib.rnnoise_process_frame(
                state, out.ctypes.data_as(_FLOAT_P), scaled.ctypes.data_as(_FLOAT_P)
            )
            return out / _INT16_SCALE

        return FrameSession(
            process_frame,
            frame=self.frame,
            rate=self.rate,
            delay=self.delay,
            on_close=lambda: binding.destroy(state),
        )
