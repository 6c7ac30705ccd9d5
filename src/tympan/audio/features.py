"""Frame-level audio features: spectrogram, log-mel, MFCC, zero-crossing rate, RMS.

The definitions follow librosa's (centred frames, periodic Hann window, Slaney mel filters,
``power_to_db`` with an 80 dB floor, orthonormal DCT-II, Savitzky-Golay deltas), so values
agree with librosa on the same audio; tests check that. They are computed here with NumPy and
SciPy instead of calling librosa per request because that path is several times faster on
short clips and avoids librosa's numba start-up; librosa still supplies the mel filter bank.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Literal

import numpy as np
import scipy.fft
import scipy.signal

from tympan.audio.types import Audio
from tympan.deadlines import check_deadline
from tympan.errors import InvalidParameter

__all__ = [
    "FeatureKind",
    "FeatureOptions",
    "Features",
    "extract_features",
    "frame_count",
    "log_mel",
]

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
        """``InvalidParameter`` (400) for values no feature can be computed with."""
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

    def dims(self, kind: FeatureKind) -> int:
        """Values per frame of ``kind``, before deltas."""
        sizes = {"spectrogram": self.n_fft // 2 + 1, "log_mel": self.n_mels, "mfcc": self.n_mfcc}
        return sizes.get(kind, 1)

    def values_held(self, num_samples: int, kind: FeatureKind) -> int:
        """Most values computing ``kind`` over ``num_samples`` holds at once (the answer with
        its deltas, or MFCC's log-mel): what the features budget counts."""
        frames = frame_count(num_samples, self.n_fft, self.hop_length)
        held = self.dims(kind) * (1 + self.deltas)
        return frames * max(held, self.n_mels if kind == "mfcc" else 0)


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


_BLOCK_SAMPLES = 1 << 20  # samples of framed audio one block holds (4 MiB as float32)


def frame_count(num_samples: int, frame_length: int, hop_length: int) -> int:
    """Centred frames of ``num_samples`` samples (librosa's count)."""
    padded = num_samples + 2 * (frame_length // 2)
    return 1 + max(padded - frame_length, 0) // hop_length


def _block_frames(
    samples: np.ndarray, first: int, count: int, frame_length: int, hop_length: int, pad_mode: str
) -> np.ndarray:
    """Centred frames ``first .. first + count``, shape ``(count, frame_length)``, as librosa
    builds them: only this block's samples (and its share of the edge padding) are copied."""
    half = frame_length // 2
    start = first * hop_length - half
    stop = (first + count - 1) * hop_length - half + frame_length
    piece = samples[max(start, 0) : min(stop, samples.shape[0])]
    before = max(-start, 0)
    after = stop - start - before - piece.shape[0]
    if before or after:
        piece = np.pad(piece, (before, after), mode=pad_mode)  # type: ignore[call-overload]
    windows = np.lib.stride_tricks.sliding_window_view(piece, frame_length)
    return windows[::hop_length][:count]


def _blockwise(
    samples: np.ndarray,
    options: FeatureOptions,
    dims: int,
    pad_mode: str,
    compute: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """``compute(frames)`` over blocks of frames into one ``(frames, dims)`` array, so the
    framed copy of the audio never exists whole: memory beyond the output stays flat."""
    total = frame_count(samples.shape[0], options.n_fft, options.hop_length)
    values = np.empty((total, dims), np.float32)
    step = max(1, _BLOCK_SAMPLES // options.n_fft)
    for first in range(0, total, step):
        check_deadline()
        count = min(step, total - first)
        block = _block_frames(samples, first, count, options.n_fft, options.hop_length, pad_mode)
        values[first : first + count] = compute(block)
    return values


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


def _block_spectrogram(frames: np.ndarray, options: FeatureOptions) -> np.ndarray:
    magnitude = np.abs(np.fft.rfft(frames * _hann(options.n_fft), axis=-1))
    return magnitude.astype(np.float32) ** options.power


def _spectrogram(samples: np.ndarray, options: FeatureOptions) -> np.ndarray:
    dims = options.n_fft // 2 + 1
    return _blockwise(
        samples, options, dims, "constant", lambda frames: _block_spectrogram(frames, options)
    )


def _clip_to_top_db(decibels: np.ndarray, top_db: float | None) -> np.ndarray:
    """librosa's ``power_to_db`` floor: nothing more than ``top_db`` under the loudest value."""
    if top_db is not None and decibels.size:
        np.maximum(decibels, decibels.max() - top_db, out=decibels)
    return decibels


def log_mel(audio: Audio, options: FeatureOptions = FeatureOptions()) -> np.ndarray:
    """Log-mel power spectrogram in dB, shape ``(frames, n_mels)``."""
    power_options = replace(options, power=2.0)
    filters = _mel_filters(
        audio.sample_rate, options.n_fft, options.n_mels, options.fmin, options.fmax
    )

    def block(frames: np.ndarray) -> np.ndarray:
        mel = _block_spectrogram(frames, power_options) @ filters.T
        return 10.0 * np.log10(np.maximum(mel, 1e-10))

    decibels = _blockwise(audio.samples, options, options.n_mels, "constant", block)
    return _clip_to_top_db(decibels, options.top_db)


def _mfcc(audio: Audio, options: FeatureOptions) -> np.ndarray:
    decibels = log_mel(audio, options)
    values = np.empty((decibels.shape[0], options.n_mfcc), np.float32)
    step = max(1, _BLOCK_SAMPLES // options.n_mels)
    for first in range(0, decibels.shape[0], step):
        block = decibels[first : first + step]
        values[first : first + step] = scipy.fft.dct(block, type=2, norm="ortho", axis=1)[
            :, : options.n_mfcc
        ]
    return values


def _block_zcr(frames: np.ndarray, n_fft: int) -> np.ndarray:
    signs = np.signbit(np.where(np.abs(frames) <= 1e-10, 0.0, frames))
    crossings = signs[:, 1:] != signs[:, :-1]
    return crossings.sum(axis=1, keepdims=True) / n_fft


def _zcr(samples: np.ndarray, options: FeatureOptions) -> np.ndarray:
    return _blockwise(samples, options, 1, "edge", lambda frames: _block_zcr(frames, options.n_fft))


def _rms(samples: np.ndarray, options: FeatureOptions) -> np.ndarray:
    return _blockwise(
        samples,
        options,
        1,
        "constant",
        lambda frames: np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1, keepdims=True)),
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
        values = _mfcc(audio, options)
    elif kind == "zcr":
        values = _zcr(samples, options)
    elif kind == "rms":
        values = _rms(samples, options)
    else:
        raise InvalidParameter(f"Unknown feature kind {kind!r}.", param="kind")
    values = _with_deltas(values, options.deltas)
    return Features(kind, values, audio.sample_rate, options.hop_length, options.deltas)
