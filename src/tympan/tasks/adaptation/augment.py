"""Augmentations for robust fine-tuning: on the waveform (real noise, speed) and on the log-mel
input (SpecAugment masks, adversarial FGSM/PGD steps).

Noise comes from real recordings: a folder laid out like ``eval/noise`` (``manifest.csv`` with
``audio`` and ``split``); only files outside the ``test`` split are used, so a benchmark that
reports on the test noises never trains on them.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soxr
import torch

from tympan.audio import decode_audio
from tympan.config import SAMPLE_RATE
from tympan.errors import InvalidParameter
from tympan.tasks.enhancement.snr import mix_at_snr

__all__ = [
    "AUGMENTATIONS",
    "adversarial_features",
    "change_speed",
    "load_training_noises",
    "spec_augment",
    "with_noise",
]

AUGMENTATIONS = frozenset({"noise", "speed", "specaugment", "adversarial"})
SNR_RANGE_DB = (0.0, 20.0)
SPEED_FACTORS = (0.9, 1.1)
_FREQUENCY_MASKS, _FREQUENCY_WIDTH = 2, 10  # of 80 mel bins
_TIME_MASKS, _TIME_WIDTH = 2, 40  # frames of 10 ms


def load_training_noises(folder: Path) -> list[np.ndarray]:
    """Every noise recording of ``folder``'s manifest outside its ``test`` split, decoded."""
    manifest = folder / "manifest.csv"
    if not manifest.is_file():
        raise InvalidParameter(
            f"Noise augmentation needs a folder with manifest.csv; {folder} has none.",
            param="augment",
        )
    with manifest.open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("split") != "test"]
    if not rows:
        raise InvalidParameter(
            f"{manifest} lists no noise outside its test split.", param="augment"
        )
    return [decode_audio(folder / row["audio"]).samples for row in rows]


def with_noise(
    samples: np.ndarray, noises: list[np.ndarray], rng: np.random.Generator
) -> np.ndarray:
    """``samples`` mixed with a random stretch of a random noise at a random SNR (0-20 dB)."""
    noise = noises[int(rng.integers(len(noises)))]
    mixture, _ = mix_at_snr(samples, noise, float(rng.uniform(*SNR_RANGE_DB)), rng)
    return mixture


def change_speed(samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``samples`` played 0.9-1.1 times as fast (tempo and pitch together, as Kaldi's)."""
    factor = float(rng.uniform(*SPEED_FACTORS))
    return soxr.resample(samples, SAMPLE_RATE * factor, SAMPLE_RATE).astype(np.float32)


def spec_augment(
    features: torch.Tensor, frames: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """A copy of ``features`` (batch, mels, time) with random frequency and time bands zeroed
    (zero is the value faster-whisper pads with); time masks fall inside each clip's
    ``frames``."""
    masked = features.clone()
    batch, mels, _ = features.shape
    for index in range(batch):
        for _ in range(_FREQUENCY_MASKS):
            width = int(torch.randint(0, _FREQUENCY_WIDTH + 1, (1,), generator=generator))
            start = int(torch.randint(0, mels - width + 1, (1,), generator=generator))
            masked[index, start : start + width, :] = 0.0
        length = int(frames[index])
        for _ in range(_TIME_MASKS):
            width = min(int(torch.randint(0, _TIME_WIDTH + 1, (1,), generator=generator)), length)
            start = int(torch.randint(0, length - width + 1, (1,), generator=generator))
            masked[index, :, start : start + width] = 0.0
    return masked


def adversarial_features(
    features: torch.Tensor,
    frames: torch.Tensor,
    loss_of: Callable[[torch.Tensor], torch.Tensor],
    epsilon: float,
    steps: int,
) -> torch.Tensor:
    """The log-mel input pushed up the loss: FGSM (one step of ``epsilon``) or PGD (``steps``
    steps of ``2.5 * epsilon / steps``, kept within ``epsilon``). Only the clips' own frames
    move: the zero padding is what serving feeds, never perturbed."""
    inside = (torch.arange(features.shape[-1])[None, :] < frames[:, None]).to(features.dtype)
    inside = inside[:, None, :]
    step_size = epsilon if steps == 1 else 2.5 * epsilon / steps
    delta = torch.zeros_like(features)
    for _ in range(steps):
        delta.requires_grad_(True)
        (gradient,) = torch.autograd.grad(loss_of(features + delta), delta)
        with torch.no_grad():
            delta = (delta + step_size * gradient.sign() * inside).clamp(-epsilon, epsilon)
    return (features + delta).detach()
