"""Data augmentation: waveform copies (noise, gain, time shift, speed) and SpecAugment.

Waveform augmentation makes a fixed number of perturbed copies of each training clip once
(their features are then cached like the originals), because recomputing features every epoch
would dominate training time on two cores. SpecAugment and random crops act on feature
batches every epoch, where they cost nothing.
"""

from __future__ import annotations

import numpy as np
import soxr
import torch

from tympan.audio import Audio
from tympan.config import SAMPLE_RATE

__all__ = ["perturb", "spec_augment"]


def perturb(audio: Audio, rng: np.random.Generator) -> Audio:
    """A copy with random speed (0.9-1.1), gain (+-6 dB), time shift and noise (10-40 dB SNR)."""
    samples = audio.samples
    speed = rng.uniform(0.9, 1.1)
    # Speed perturbation as in Kaldi: resample and play back at the original rate.
    samples = soxr.resample(samples, SAMPLE_RATE, int(SAMPLE_RATE / speed), quality="LQ")
    shift = int(rng.uniform(-0.1, 0.1) * SAMPLE_RATE)
    samples = np.roll(samples, shift)
    if shift > 0:
        samples[:shift] = 0.0
    elif shift < 0:
        samples[shift:] = 0.0
    samples = samples * 10 ** (rng.uniform(-6, 6) / 20)
    power = float(np.mean(samples**2)) + 1e-10
    snr_db = rng.uniform(10, 40)
    noise = rng.standard_normal(samples.size) * np.sqrt(power / 10 ** (snr_db / 10))
    mixed = np.clip(samples + noise, -1.0, 1.0).astype(np.float32)
    return Audio(mixed, SAMPLE_RATE, audio.source)


def spec_augment(
    batch: torch.Tensor, generator: torch.Generator, freq_masks: int = 2, time_masks: int = 2
) -> torch.Tensor:
    """SpecAugment on ``(batch, frames, bands)``: zero random bands and time spans."""
    out = batch.clone()
    count, frames, bands = out.shape
    for _ in range(freq_masks):
        width = torch.randint(0, max(2, bands // 8), (count,), generator=generator)
        start = (torch.rand(count, generator=generator) * (bands - width)).long()
        index = torch.arange(bands)
        mask = (index[None] >= start[:, None]) & (index[None] < (start + width)[:, None])
        out.masked_fill_(mask[:, None, :], 0.0)
    for _ in range(time_masks):
        width = torch.randint(0, max(2, frames // 10), (count,), generator=generator)
        start = (torch.rand(count, generator=generator) * (frames - width)).long()
        index = torch.arange(frames)
        mask = (index[None] >= start[:, None]) & (index[None] < (start + width)[:, None])
        out.masked_fill_(mask[:, :, None], 0.0)
    return out
