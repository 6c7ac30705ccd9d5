"""Whole recordings through an enhancer: as ``Audio`` (before a task), or as encoded bytes.

``EnhancementStream`` is what ``POST /v1/audio/enhancements`` serves: each ``next_chunk``
enhances one block and encodes it with the shared encoder, so the first bytes leave before
the rest is computed and memory is bounded by the block, however long the recording.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from tympan.audio import Audio
from tympan.audio.encode import FORMATS, AudioEncoder, EncodedFormat
from tympan.config import SAMPLE_RATE
from tympan.tasks.enhancement.session import Enhancer, enhance_samples

__all__ = ["BLOCK_SECONDS", "EnhancementStream", "enhance_audio"]

BLOCK_SECONDS = 10.0
"""Audio enhanced per step: bounds memory and how long one step holds a worker."""

_BLOCK = int(BLOCK_SECONDS * SAMPLE_RATE)


def enhance_audio(enhancer: Enhancer, audio: Audio) -> Audio:
    """``audio`` enhanced, same length and timing, same source information."""
    if audio.sample_rate != SAMPLE_RATE:  # only boundary audio: never resampled again here
        raise ValueError(f"enhancers take {SAMPLE_RATE} Hz audio, not {audio.sample_rate} Hz")
    pieces = list(enhance_samples(enhancer.session(), audio.samples, _BLOCK))
    samples = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    return replace(audio, samples=np.ascontiguousarray(samples, dtype=np.float32))


class EnhancementStream:
    """The encoded, enhanced audio of one recording, produced block by block."""

    def __init__(self, enhancer: Enhancer, audio: Audio, response_format: EncodedFormat) -> None:
        self.media_type = FORMATS[response_format].media_type
        self._session = enhancer.session()
        self._blocks = enhance_samples(self._session, audio.samples, _BLOCK)
        self._encoder = AudioEncoder(response_format, SAMPLE_RATE)
        self._finished = False

    @property
    def sample_rate(self) -> int:
        """The rate of the encoded audio (16 kHz, or the format's fixed rate)."""
        return self._encoder.rate

    def next_chunk(self, _enhancer: Enhancer | None = None) -> bytes | None:
        """The next non-empty bytes; ``None`` once complete (the model lease is the caller's)."""
        for samples in self._blocks:
            data = self._encoder.encode(samples)
            if data:
                return data
        if self._finished:
            return None
        self._finished = True
        return self._encoder.finish() or None

    def close(self) -> None:
        """Stop early (client went away): release the enhancer's session."""
        self._blocks.close()
        self._session.close()
