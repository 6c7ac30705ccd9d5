"""Frame-level audio features: spectrogram, log-mel, MFCC, zero-crossing rate, RMS.

The definitions follow librosa's (centred frames, periodic Hann window, Slaney mel filters,
``power_to_db`` with an 80 dB floor, orthonormal DCT-II, Savitzky-Golay deltas), so values
agree with librosa on the same audio; tests check that. They are computed here with NumPy and
SciPy instead of calling librosa per request because that path is several times faster on
short clips and avoids librosa's numba start-up; librosa still supplies the mel filter bank.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Literal

import numpy as np
import scipy.fft
import scipy.signal

from tympan.audio.types import Audio
from tympan.errors import InvalidParameter

__all__ = ["FeatureKind", "FeatureOptions", "Features", "extract_features", "log_mel"]

FeatureKind = Literal["spectrogram", "log_mel", "mfcc", "zcr", "rms"]


@dataclass(frozen=True, slots=True)
class FeatureOptions:
    """Parameters of every feature kind (each kind uses the ones that apply)."""

    n_fft: int = 400
    hop_length: int = 160
    n_mels: int = 64
    n_mfcc: int = 13
    fmin: float = 0.0
    fmax: float | None = None
    power: float = 2.0
    top_db: float | None = 80.0
    deltas: int = 0

    def validate(self, sample_rate: int) -> None:
        """``InvalidParameter`` (422) for values no feature can be computed with."""
        checks = [
            (16 <= self.n_fft <= 16384, "n_fft", "must be between 16 and 16384"),
            (1 <= self.hop_length <= self.n_fft, "hop_length", "must be between 1 and n_fft"),
            (1 <= self.n_mels <= 512, "n_mels", "must be between 1 and 512"),
            (1 <= self.n_mfcc <= self.n_mels, "n_mfcc", "must be between 1 and n_mels"),
            (self.deltas in (0, 1, 2), "deltas", "must be 0, 1 or 2"),
            (self.power in (1.0, 2.0), "power", "must be 1 (magnitude) or 2 (power)"),
            (0 <= self.fmin < sample_rate / 2, "fmin", "must be in [0, Nyquist)"),
        ]
        if self.fmax is not None:
            checks.append(
                (self.fmin < self.fmax <= sample_rate / 2, "fmax", "must be in (fmin, Nyquist]")
            )
        for ok, name, rule in checks:
            if not ok:
                raise InvalidParameter(f"{name} {rule}.", param=name)


@dataclass(frozen=True, slots=True)
class Features:
    """Frames of one feature kind: ``values`` has shape ``(frames, dims)``."""

    kind: FeatureKind
    values: np.ndarray
    sample_rate: int
    hop_length: int
    deltas: int

    @property
    def frame_rate(self) -> float:
        """Frames per second."""
        return self.sample_rate / self.hop_length


def _frames(samples: np.ndarray, frame_length: int, hop_length: int, pad_mode: str) -> np.ndarray:
    """Centred frames, shape ``(frames, frame_length)``, as librosa builds them."""
    half = frame_length // 2
    padded = np.pad(samples, (half, half), mode=pad_mode)  # type: ignore[call-overload]
    if padded.shape[0] < frame_length:
        padded = np.pad(padded, (0, frame_length - padded.shape[0]))
    windows = np.lib.stride_tricks.sliding_window_view(padded, frame_length)
    return windows[::hop_length]


@lru_cache(maxsize=16)
def _hann(n_fft: int) -> np.ndarray:
    return scipy.signal.get_window("hann", n_fft, fftbins=True).astype(np.float32)


@lru_cache(maxsize=32)
def _mel_filters(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None
) -> np.ndarray:
    import librosa.filters  # the reference definition of the Slaney filter bank

    return librosa.filters.mel(
        sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax
    ).astype(np.float32)


def _spectrogram(samples: np.ndarray, options: FeatureOptions) -> np.ndarray:
    frames = _frames(samples, options.n_fft, options.hop_length, "constant")
    magnitude = np.abs(np.fft.rfft(frames * _hann(options.n_fft), axis=-1))
    return magnitude.astype(np.float32) ** options.power


def _power_to_db(power: np.ndarray, top_db: float | None) -> np.ndarray:
    decibels = 10.0 * np.log10(np.maximum(power, 1e-10))
    if top_db is not None and decibels.size:
        decibels = np.maximum(decibels, decibels.max() - top_db)
    return decibels.astype(np.float32)


def log_mel(audio: Audio, options: FeatureOptions = FeatureOptions()) -> np.ndarray:
    """Log-mel power spectrogram in dB, shape ``(frames, n_mels)``."""
    power = _spectrogram(audio.samples, replace(options, power=2.0))
    filters = _mel_filters(
        audio.sample_rate, options.n_fft, options.n_mels, options.fmin, options.fmax
    )
    return _power_to_db(power @ filters.T, options.top_db)


def _zcr(samples: np.ndarray, options: FeatureOptions) -> np.ndarray:
    frames = _frames(samples, options.n_fft, options.hop_length, "edge")
    signs = np.signbit(np.where(np.abs(frames) <= 1e-10, 0.0, frames))
    crossings = signs[:, 1:] != signs[:, :-1]
    return (crossings.sum(axis=1, keepdims=True) / options.n_fft).astype(np.float32)


def _rms(samples: np.ndarray, options: FeatureOptions) -> np.ndarray:
    frames = _frames(samples, options.n_fft, options.hop_length, "constant")
    return np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1, keepdims=True)).astype(
        np.float32
    )


def _with_deltas(values: np.ndarray, order: int) -> np.ndarray:
    """Append first (and second) time derivatives along the feature axis."""
    if order == 0:
        return values
    width = 9
    if values.shape[0] < width:
        raise InvalidParameter(
            f"deltas need at least {width} frames; the audio gives {values.shape[0]}.",
            param="deltas",
        )
    parts = [values] + [
        scipy.signal.savgol_filter(values, width, polyorder=k, deriv=k, axis=0, mode="interp")
        for k in range(1, order + 1)
    ]
    return np.concatenate(parts, axis=1).astype(np.float32)


def extract_features(
    audio: Audio, kind: FeatureKind, options: FeatureOptions = FeatureOptions()
) -> Features:
    """Compute one kind of frame features of ``audio`` (with deltas when asked)."""
    options.validate(audio.sample_rate)
    samples = audio.samples
    if kind == "spectrogram":
        values = _spectrogram(samples, options)
    elif kind == "log_mel":
        values = log_mel(audio, options)
    elif kind == "mfcc":
        values = scipy.fft.dct(log_mel(audio, options), type=2, norm="ortho", axis=1)
        values = values[:, : options.n_mfcc].astype(np.float32)
    elif kind == "zcr":
        values = _zcr(samples, options)
    elif kind == "rms":
        values = _rms(samples, options)
    else:
        raise InvalidParameter(f"Unknown feature kind {kind!r}.", param="kind")
    values = _with_deltas(values, options.deltas)
    return Features(kind, values, audio.sample_rate, options.hop_length, options.deltas)
