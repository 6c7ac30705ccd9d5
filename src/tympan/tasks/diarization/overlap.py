"""Overlapped speech: a small speaker-count model, and the second speaker it lets a frame have.

``SpeakerCounter`` reads 64 log-mel bands every 10 ms (the timeline's resolution) and says,
per frame, whether nobody, one or several people speak. No such model ships in a PyPI
package (pyannote's segmentation weights are on the Hugging Face hub), so Tympan trains its
own from single-speaker clips mixed into conversations (``overlap_training.py``) and keeps
it in the data dir, like the music models. ``second_speakers`` gives each frame the model
calls overlapped the speaker of the nearest turn of someone else: who a listener would guess
is talking over the current speaker (the one who just spoke, or who takes the turn next).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tympan.errors import Conflict

__all__ = [
    "OVERLAP_MODEL_ID",
    "CounterConfig",
    "OverlapModel",
    "SpeakerCounter",
    "is_trained",
    "log_mel",
    "overlap_model_dir",
    "second_speakers",
    "training_report",
]

OVERLAP_MODEL_ID = "overlap-speaker-count"
SAMPLE_RATE = 16_000
HOP = 160  # samples per frame: 10 ms, the diarization timeline's resolution
_FFT = 400  # 25 ms analysis window
_WINDOW_SECONDS = 8.0  # the length the model trains on; long audio is read in such windows
_WINDOWS_PER_CALL = 16
_WEIGHTS = "speaker-count.pt"
_META = "meta.json"


@dataclass(frozen=True, slots=True)
class CounterConfig:
    """The shape of a ``SpeakerCounter`` (stored beside its weights)."""

    mels: int = 64
    channels: int = 128
    hidden: int = 96


class SpeakerCounter(nn.Module):
    """Log-mel frames -> logits for 0, 1 and 2+ speakers per frame: two convolutions over
    time (50 ms of context each side), then a two-layer bidirectional GRU (seconds)."""

    def __init__(self, config: CounterConfig = CounterConfig()) -> None:
        super().__init__()
        self.front = nn.Sequential(
            nn.Conv1d(config.mels, config.channels, 5, padding=2),
            nn.BatchNorm1d(config.channels),
            nn.ReLU(),
            nn.Conv1d(config.channels, config.channels, 5, padding=2),
            nn.BatchNorm1d(config.channels),
            nn.ReLU(),
        )
        self.rnn = nn.GRU(config.channels, config.hidden, 2, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * config.hidden, 3)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(batch, frames, mels) -> (batch, frames, 3) logits."""
        hidden = self.front(features.transpose(1, 2)).transpose(1, 2)
        hidden, _ = self.rnn(hidden)
        return self.out(hidden)


_mel_filters: dict[int, torch.Tensor] = {}


def log_mel(samples: torch.Tensor, mels: int = 64) -> torch.Tensor:
    """(batch, samples) at 16 kHz -> (batch, frames, mels), each band normalised over the
    clip's frames, so loudness and microphone colour do not matter."""
    if mels not in _mel_filters:
        import librosa  # the filter bank only; imported once, when first needed

        bank = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=_FFT, n_mels=mels, fmin=20, fmax=7600)
        _mel_filters[mels] = torch.from_numpy(bank).float()
    window = torch.hann_window(_FFT)
    spectrum = torch.stft(samples, _FFT, HOP, window=window, return_complex=True).abs() ** 2
    energies = torch.log(torch.clamp(_mel_filters[mels] @ spectrum, min=1e-8))
    mean, std = energies.mean(-1, keepdim=True), energies.std(-1, keepdim=True)
    return ((energies - mean) / (std + 1e-5)).transpose(1, 2)


def overlap_model_dir(models_dir: Path) -> Path:
    """Where the trained speaker-count model lives in the data dir."""
    return models_dir / "overlap"


def is_trained(models_dir: Path) -> bool:
    """Whether a speaker-count model has been trained into ``models_dir``."""
    return (overlap_model_dir(models_dir) / _WEIGHTS).is_file()


def training_report(models_dir: Path) -> dict | None:
    """What the trained model's training reported (None before training)."""
    if not is_trained(models_dir):
        return None
    return json.loads((overlap_model_dir(models_dir) / _META).read_text())


class OverlapModel:
    """A trained ``SpeakerCounter`` and what its training reported."""

    def __init__(
        self, network: SpeakerCounter, config: CounterConfig, meta: dict, saved: float = 0.0
    ) -> None:
        self.network = network.eval()
        self.config = config
        self.meta = meta
        self.saved = saved  # modification time of the weights it was loaded from

    def stale(self, models_dir: Path) -> bool:
        """Whether a newer model was trained into ``models_dir`` after this one loaded."""
        weights = overlap_model_dir(models_dir) / _WEIGHTS
        return weights.is_file() and weights.stat().st_mtime != self.saved

    @classmethod
    def load(cls, models_dir: Path) -> OverlapModel:
        """The model trained into ``models_dir``; ``Conflict`` (409) before training."""
        folder = overlap_model_dir(models_dir)
        if not is_trained(models_dir):
            raise Conflict(
                f"{OVERLAP_MODEL_ID} is not trained yet: train it with POST "
                "/v1/audio/diarization/overlap/train (or `tympan train-overlap FOLDER`).",
                code="model_not_trained",
            )
        meta = training_report(models_dir) or {}
        config = CounterConfig(**meta["config"])
        network = SpeakerCounter(config)
        saved = (folder / _WEIGHTS).stat().st_mtime
        network.load_state_dict(torch.load(folder / _WEIGHTS, weights_only=True))
        return cls(network, config, meta, saved)

    def save(self, models_dir: Path) -> None:
        """Write weights and report, replacing the previous model only once both are whole."""
        folder = overlap_model_dir(models_dir)
        staging = folder.with_name(folder.name + ".new")
        staging.mkdir(parents=True, exist_ok=True)
        torch.save(self.network.state_dict(), staging / _WEIGHTS)
        meta = {**self.meta, "config": asdict(self.config)}
        (staging / _META).write_text(json.dumps(meta, indent=2))
        folder.mkdir(parents=True, exist_ok=True)
        for name in (_META, _WEIGHTS):  # weights last: ``is_trained`` looks for them
            (staging / name).replace(folder / name)
        staging.rmdir()

    @torch.no_grad()
    def overlap_probabilities(self, samples: np.ndarray) -> np.ndarray:
        """P(two or more speakers) of every 10 ms frame of ``samples`` (16 kHz mono).

        Read in 8 s windows every 4 s (the length the model trained on), batched, and
        averaged where two windows cover a frame."""
        frames = samples.shape[0] // HOP + 1
        length, step = int(_WINDOW_SECONDS * SAMPLE_RATE), int(_WINDOW_SECONDS * SAMPLE_RATE / 2)
        starts = list(range(0, max(1, samples.shape[0] - length + step), step))
        total, covered = np.zeros(frames), np.zeros(frames)
        for first in range(0, len(starts), _WINDOWS_PER_CALL):
            group = starts[first : first + _WINDOWS_PER_CALL]
            pieces = [samples[s : s + length] for s in group]
            longest = max(piece.shape[0] for piece in pieces)
            if longest < _FFT:
                continue
            batch = np.zeros((len(pieces), longest), np.float32)
            for row, piece in enumerate(pieces):
                batch[row, : piece.shape[0]] = piece
            logits = self.network(log_mel(torch.from_numpy(batch), self.config.mels))
            overlapped = torch.softmax(logits, -1)[..., 2].numpy()
            for row, start in enumerate(group):
                begin = start // HOP
                count = min((pieces[row].shape[0]) // HOP + 1, frames - begin)
                total[begin : begin + count] += overlapped[row, :count]
                covered[begin : begin + count] += 1
        return total / np.maximum(covered, 1)


def second_speakers(
    turns: list[tuple[float, float, int]], frame_seconds: float, frames: int
) -> np.ndarray:
    """For each frame, the label of the nearest turn by someone other than the turn's own
    speaker (-1 outside turns, or when only one speaker has turns)."""
    second = np.full(frames, -1)
    before: list[tuple[float, float, int] | None] = [None] * len(turns)
    after: list[tuple[float, float, int] | None] = [None] * len(turns)
    for index in range(1, len(turns)):  # the latest earlier turn with another label
        previous = turns[index - 1]
        before[index] = previous if previous[2] != turns[index][2] else before[index - 1]
    for index in range(len(turns) - 2, -1, -1):  # the earliest later turn with another label
        following = turns[index + 1]
        after[index] = following if following[2] != turns[index][2] else after[index + 1]
    for (start, end, _), earlier, later in zip(turns, before, after, strict=True):
        first, last = round(start / frame_seconds), min(frames, round(end / frame_seconds))
        if earlier is None or later is None:
            other = earlier or later
            if other is not None:
                second[first:last] = other[2]
            continue
        times = (np.arange(first, last) + 0.5) * frame_seconds
        second[first:last] = np.where(times - earlier[1] <= later[0] - times, earlier[2], later[2])
    return second
