"""Resemblyzer's GE2E d-vector encoder (``pretrained.pt``, PyTorch), fed Tympan's ``Audio``.

The network (3-layer LSTM 40 -> 256, linear, ReLU, L2) and the front end (40-band mel power,
25 ms / 10 ms frames, 1.6 s partials at 1.3 per second, mean of partial embeddings) are
resemblyzer's ``VoiceEncoder``. We rebuild the ``nn.Module`` here instead of importing it
because ``import resemblyzer`` pulls in ``webrtcvad``, whose 2017 release needs
``pkg_resources`` (gone from current setuptools); the weights and the recipe are unchanged,
and every partial of every clip goes through the LSTM in one batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import util
from pathlib import Path

import numpy as np

from tympan.audio.features import FeatureOptions, log_mel
from tympan.audio.types import Audio
from tympan.models.threads import set_resting_threads
from tympan.tasks.speakers.encoder import SpeakerEncoder, in_batches, l2_normalise, mean_per_clip

__all__ = ["Ge2eEncoder", "resemblyzer_weights_path"]

_PARTIAL_FRAMES = 160  # 1.6 s partial utterances
_PARTIAL_STEP = 77  # frames between partials: round(16000 / 1.3 / 160), resemblyzer's rate=1.3
_MIN_COVERAGE = 0.75
_NORM_TARGET_DBFS = -30.0  # resemblyzer raises quiet input to this level (never lowers it)
_MEL = FeatureOptions(n_fft=400, hop_length=160, n_mels=40, top_db=None)


def resemblyzer_weights_path() -> Path:
    """``pretrained.pt`` inside the installed ``resemblyzer`` package (found without importing)."""
    spec = util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the resemblyzer package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"


def _raise_volume(samples: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    if rms <= 0:
        return samples
    change_db = _NORM_TARGET_DBFS - 20 * np.log10(rms)
    return samples * np.float32(10 ** (change_db / 20)) if change_db > 0 else samples


def _partial_starts(num_samples: int) -> list[int]:
    """Frame offsets of the 1.6 s partials covering a clip, as resemblyzer slices them."""
    hop = _MEL.hop_length
    num_frames = int(np.ceil((num_samples + 1) / hop))
    steps = max(1, num_frames - _PARTIAL_FRAMES + _PARTIAL_STEP + 1)
    starts = list(range(0, steps, _PARTIAL_STEP))
    coverage = (num_samples - starts[-1] * hop) / (_PARTIAL_FRAMES * hop)
    if coverage < _MIN_COVERAGE and len(starts) > 1:
        starts.pop()
    return starts


class Ge2eEncoder(SpeakerEncoder):
    """Resemblyzer's pretrained GE2E LSTM on CPU."""

    dim = 256

    def __init__(self, path: Path | None = None, threads: int = 0) -> None:
        import torch
        from torch import nn

        set_resting_threads(threads)  # torch's count is process-wide: only through the guard
        self._torch = torch
        self.lstm = nn.LSTM(40, 256, 3, batch_first=True)
        self.linear = nn.Linear(256, 256)
        state = torch.load(path or resemblyzer_weights_path(), map_location="cpu")["model_state"]
        self.lstm.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("lstm.")})
        self.linear.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("linear.")})
        self.lstm.eval()
        self.linear.eval()

    def mel(self, samples: np.ndarray) -> np.ndarray:
        """``(frames, 40)`` mel power (not log), the encoder's input."""
        decibels = log_mel(Audio.from_array(_raise_volume(samples)), _MEL)
        return (10.0 ** (decibels / 10.0)).astype(np.float32)  # log_mel floors power at 1e-10

    def _partials(self, samples: np.ndarray) -> np.ndarray:
        starts = _partial_starts(samples.shape[0])
        needed = (starts[-1] + _PARTIAL_FRAMES) * _MEL.hop_length
        padded = np.pad(samples, (0, max(0, needed - samples.shape[0])))
        mel = self.mel(padded)
        return np.stack([mel[s : s + _PARTIAL_FRAMES] for s in starts])

    def _forward(self, partials: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            _, (hidden, _) = self.lstm(torch.from_numpy(partials))
            return torch.relu(self.linear(hidden[-1])).numpy()

    def _embed(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        per_clip = [self._partials(clip) for clip in clips]
        rows = in_batches(self._forward, np.concatenate(per_clip), self.max_batch)
        return mean_per_clip(l2_normalise(rows), [len(clip) for clip in per_clip])
