"""What every speaker encoder shares: batched clips in, L2-normalised embeddings out."""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tympan.audio.types import Audio
from tympan.errors import InvalidAudio

__all__ = [
    "MIN_EMBED_SECONDS",
    "Embedding",
    "SpeakerEncoder",
    "embed_audio",
    "l2_normalise",
    "mean_per_clip",
]

MIN_EMBED_SECONDS = 0.1
"""Shorter clips hold too little voice for an embedding (400 ``InvalidAudio``)."""

_SILENCE_RMS = 1e-5  # about -100 dBFS: digital silence, nothing to embed


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows (or one vector) scaled to unit length; all-zero rows stay zero."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def in_batches(run: Callable[[np.ndarray], np.ndarray], rows: np.ndarray, size: int) -> np.ndarray:
    """``run`` over ``rows`` ``size`` at a time, results concatenated.

    Bounds the memory of recurrent encoders, whose activations grow with the batch (an hour
    of audio is thousands of windows).
    """
    return np.concatenate([run(rows[i : i + size]) for i in range(0, len(rows), size)])


def mean_per_clip(rows: np.ndarray, counts: Sequence[int]) -> np.ndarray:
    """Average consecutive groups of ``rows`` (``counts[i]`` rows belong to clip ``i``)."""
    bounds = np.cumsum([0, *counts])
    return np.stack([rows[a:b].mean(axis=0) for a, b in itertools.pairwise(bounds)])


class SpeakerEncoder(ABC):
    """A loaded speaker model: ``embed_clips`` maps many clips to one row each."""

    dim: int
    max_batch: int = 256
    """Most windows or partials the network sees at once."""

    @abstractmethod
    def _embed(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        """Raw (not necessarily normalised) embeddings, one row per clip, in one batch."""

    def embed_clips(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        """L2-normalised embeddings, shape ``(len(clips), dim)``."""
        if not clips:
            return np.zeros((0, self.dim), np.float32)
        return l2_normalise(self._embed(clips))

    def embed(self, audio: Audio) -> np.ndarray:
        """The L2-normalised embedding of a whole recording; 400 if it has no voice to embed."""
        if audio.duration < MIN_EMBED_SECONDS:
            raise InvalidAudio(
                f"The audio is {audio.duration:.3f} s; a speaker embedding needs at least "
                f"{MIN_EMBED_SECONDS} s of speech.",
                param="file",
            )
        if float(np.sqrt(np.mean(np.square(audio.samples, dtype=np.float64)))) < _SILENCE_RMS:
            raise InvalidAudio("The audio is silent; there is no voice to embed.", param="file")
        embedding = self.embed_clips([audio.samples])[0]
        if not np.all(np.isfinite(embedding)) or not np.any(embedding):
            raise InvalidAudio("No speaker embedding could be computed from this audio.")
        return embedding


@dataclass(frozen=True, slots=True)
class Embedding:
    """A recording's speaker embedding (unit length) and the model that computed it."""

    model: str
    dim: int
    duration: float
    embedding: list[float]


def embed_audio(encoder: SpeakerEncoder, model: str, audio: Audio) -> Embedding:
    """``encoder.embed`` as a serialisable record."""
    vector = encoder.embed(audio)
    return Embedding(model, int(vector.shape[0]), round(audio.duration, 3), vector.tolist())
