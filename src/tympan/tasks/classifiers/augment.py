"""Data augmentation: waveform copies (noise, gain, time shift, speed; toward new voices:
pitch, formants, rooms, real noise) and SpecAugment.

Waveform augmentation makes a fixed number of perturbed copies of each training clip once
(their features are then cached like the originals), because recomputing features every epoch
would dominate training time on two cores. SpecAugment and random crops act on feature
batches every epoch, where they cost nothing.

Two recipes (``TrainConfig.augment``):

- ``basic``: speed 0.9-1.1 (resampling, as Kaldi: pitch, formants and tempo move together),
  a time shift, gain and noise.
- ``voices`` (the default): ``basic``, plus what tells one speaker from another, moved
  independently: pitch shifted by up to +-3 semitones and formants (vocal-tract length) by a
  factor of 0.85-1.15 (resample to move both, then ``librosa.effects.pitch_shift`` puts the
  pitch where it should be), and a simulated room for half the copies
  (``scipy.signal.fftconvolve`` with an exponentially decaying noise impulse response, RT60
  0.15-0.7 s).

Both mix real background recordings instead of synthetic noise (white to pink) when the
service has some (``TYMPAN_CLASSIFIER_NOISE_DIR``). Measured in
``benchmarks/bench_voices.py`` (docs/classifiers.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import librosa
import numpy as np
import soxr
import torch
from scipy.signal import fftconvolve

from tympan.audio import Audio, decode_audio
from tympan.config import SAMPLE_RATE
from tympan.tasks.classifiers.dataset import AUDIO_SUFFIXES
from tympan.tasks.enhancement.snr import mix_at_snr

__all__ = [
    "AUGMENTATIONS",
    "Augmentation",
    "AugmentationKind",
    "background_noises",
    "perturb",
    "spec_augment",
]

AugmentationKind = Literal["basic", "voices"]
AUGMENTATIONS: tuple[AugmentationKind, ...] = ("basic", "voices")
_MAX_SEMITONES = 3.0
_FORMANT_RANGE = (0.85, 1.15)
_RT60_RANGE = (0.15, 0.7)
_ROOM_SHARE = 0.5
# Synthetic noise's spectral slope: white to pink. Up to brown (2) did better on new voices
# saying digits and 1.7 points worse on emotion (docs/classifiers.md).
_MAX_NOISE_SLOPE = 1.0
_LOWEST_NOISE_HZ = 20.0  # the slope's gain stops rising below this (and 0 Hz has none)
_MAX_SHIFT_SECONDS = 0.1
# Part of every copy's cache key: a change to ``perturb`` bumps it, so that no copy made the
# old way is reused (2: silence before the clip instead of a cut, coloured noise).
_PERTURB_VERSION = "perturb2"


@dataclass(frozen=True, slots=True)
class Augmentation:
    """A recipe and the background recordings it mixes in (none: synthetic noise)."""

    kind: AugmentationKind = "basic"
    noises: Sequence[np.ndarray] = field(default=(), repr=False)

    @property
    def key(self) -> str:
        """What the copies depend on, for the feature cache: ``perturb``'s version, the
        recipe and the noise recordings."""
        digest = hashlib.sha256()
        for noise in self.noises:
            digest.update(np.ascontiguousarray(noise, np.float32).tobytes())
        noises = digest.hexdigest()[:12] if self.noises else "coloured"
        return f":{_PERTURB_VERSION}:{self.kind}:noise{noises}"


def background_noises(folder: str, max_seconds: float) -> list[np.ndarray]:
    """Every audio file under ``folder`` (``TYMPAN_CLASSIFIER_NOISE_DIR``; empty: none),
    decoded, in name order; each at most ``max_seconds``."""
    if not folder:
        return []
    paths = sorted(p for p in Path(folder).expanduser().rglob("*") if p.suffix.lower() in
                   AUDIO_SUFFIXES)  # fmt: skip
    return [decode_audio(path, max_seconds=max_seconds).samples for path in paths]


def _shift_voice(samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Formants scaled by a random factor and pitch moved by random semitones, independently."""
    formant = rng.uniform(*_FORMANT_RANGE)
    semitones = rng.uniform(-_MAX_SEMITONES, _MAX_SEMITONES)
    # Resampling to rate/formant and playing at rate scales every frequency by ``formant``;
    # the pitch shift then undoes that for the pitch alone and applies ``semitones``.
    moved = soxr.resample(samples, SAMPLE_RATE, int(SAMPLE_RATE / formant), quality="HQ")
    steps = semitones - 12 * np.log2(formant)
    return librosa.effects.pitch_shift(moved, sr=SAMPLE_RATE, n_steps=steps, res_type="soxr_hq")


def _reverberate(samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``samples`` in a simulated room (RT60 drawn from ``_RT60_RANGE``), at the same RMS."""
    rt60 = rng.uniform(*_RT60_RANGE)
    times = np.arange(int(rt60 * SAMPLE_RATE)) / SAMPLE_RATE
    response = rng.standard_normal(times.size) * np.exp(-6.9 * times / rt60)  # -60 dB at rt60
    response[0] = 1.0 + abs(response[0])  # the direct path
    wet = fftconvolve(samples, response)[: samples.size]
    level = np.sqrt(np.mean(samples**2) / max(float(np.mean(wet**2)), 1e-12))
    return (wet * level).astype(np.float32)


def perturb(audio: Audio, rng: np.random.Generator, augmentation: Augmentation) -> Audio:
    """A copy perturbed by ``augmentation``'s recipe: speed (0.9-1.1), gain (+-6 dB), up to
    0.1 s of silence before it, noise (10-40 dB SNR); for ``voices`` also pitch, formants and
    room first."""
    samples = audio.samples
    if augmentation.kind == "voices":
        samples = _shift_voice(samples, rng)
        if rng.random() < _ROOM_SHARE:
            samples = _reverberate(samples, rng)
    speed = rng.uniform(0.9, 1.1)
    # Speed perturbation as in Kaldi: resample and play back at the original rate.
    samples = soxr.resample(samples, SAMPLE_RATE, int(SAMPLE_RATE / speed), quality="LQ")
    # The shift adds silence before the clip: cutting 0.1 s off a 0.4 s word would delete
    # a sound of it.
    shift = int(rng.uniform(0.0, _MAX_SHIFT_SECONDS) * SAMPLE_RATE)
    samples = np.concatenate([np.zeros(shift, np.float32), samples])
    samples = samples * 10 ** (rng.uniform(-6, 6) / 20)
    snr_db = rng.uniform(10, 40)
    if augmentation.noises:
        noise = augmentation.noises[int(rng.integers(len(augmentation.noises)))]
        mixed = mix_at_snr(samples, noise, snr_db, rng)[0]
    else:
        power = float(np.mean(samples**2)) + 1e-10
        noise = _coloured_noise(samples.size, rng) * np.sqrt(power / 10 ** (snr_db / 10))
        mixed = np.clip(samples + noise, -1.0, 1.0)
    return Audio(mixed.astype(np.float32), SAMPLE_RATE, audio.source)


def _coloured_noise(size: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance Gaussian noise whose power falls as 1/f^beta, beta drawn from 0 (white)
    to ``_MAX_NOISE_SLOPE`` (1: pink), since background noise is rarely white. Shaped in the
    frequency domain with numpy's FFT; the ``colorednoise`` package does the same and would be
    a dependency for these few lines."""
    slope = rng.uniform(0.0, _MAX_NOISE_SLOPE)
    spectrum = np.fft.rfft(rng.standard_normal(size))
    frequencies = np.maximum(np.fft.rfftfreq(size, 1 / SAMPLE_RATE), _LOWEST_NOISE_HZ)
    noise = np.fft.irfft(spectrum * frequencies ** (-slope / 2), size)
    return noise / (noise.std() + 1e-12)


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
