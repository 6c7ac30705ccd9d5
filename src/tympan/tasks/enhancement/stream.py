"""Whole recordings through an enhancer: as ``Audio`` (before a task), or as encoded bytes.

``EnhancementStream`` is what ``POST /v1/audio/enhancements`` serves: each ``next_chunk``
enhances one block and encodes it with the shared encoder, so the first bytes leave before
the rest is computed and memory is bounded by the block, however long the recording.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np

from tympan.audio import Audio
from tympan.audio.encode import FORMATS, AudioEncoder, EncodedFormat
from tympan.config import SAMPLE_RATE
from tympan.models.threads import PartPool
from tympan.tasks.enhancement.session import Enhancer, enhance_samples

__all__ = ["BLOCK_SECONDS", "EnhancementStream", "enhance_audio"]

BLOCK_SECONDS = 10.0
"""Audio enhanced per step: bounds memory and how long one step holds a worker."""

_BLOCK = int(BLOCK_SECONDS * SAMPLE_RATE)


PART_SECONDS = 20.0
"""Shortest part a recording is split into to run on several cores (each part costs a warm-up
and, with DeepFilterNet, a model state)."""

WARM_UP_SECONDS = 2.0
"""Audio before a part's start that its session hears, output dropped, so the enhancer's
recurrent state and noise estimate have settled when the part's own output begins."""


def enhance_audio(enhancer: Enhancer, audio: Audio) -> Audio:
    """``audio`` enhanced, same length and timing, same source information.

    A long recording is cut into up to ``enhancer.threads`` parts of at least
    ``PART_SECONDS``, enhanced side by side, each after a ``WARM_UP_SECONDS`` lead-in."""
    if audio.sample_rate != SAMPLE_RATE:  # only boundary audio: never resampled again here
        raise ValueError(f"enhancers take {SAMPLE_RATE} Hz audio, not {audio.sample_rate} Hz")
    total = audio.samples.shape[0]
    parts = max(1, min(enhancer.threads, int(total / (PART_SECONDS * SAMPLE_RATE))))
    spans = _even_work_spans(total, parts, int(WARM_UP_SECONDS * SAMPLE_RATE))
    if parts == 1:
        pieces = [_enhance_span(enhancer, audio.samples, 0, total)]
    else:
        with PartPool(parts, "enhance-part") as pool:
            pieces = pool.map(lambda span: _enhance_span(enhancer, audio.samples, *span), spans)
    samples = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    return replace(audio, samples=np.ascontiguousarray(samples, dtype=np.float32))


def _even_work_spans(total: int, parts: int, lead: int) -> list[tuple[int, int]]:
    """``parts`` consecutive spans of ``total`` samples that cost the same to enhance: every
    part but the first also hears ``lead`` samples of warm-up, so the first is that much
    longer (with equal spans the last part to finish ran a warm-up longer than the others)."""
    if parts == 1:
        return [(0, total)]
    rest = (total - lead) // parts
    bounds = [0, *(total - rest * (parts - index) for index in range(1, parts)), total]
    return list(itertools.pairwise(bounds))


def _enhance_span(enhancer: Enhancer, samples: np.ndarray, start: int, end: int) -> np.ndarray:
    """``samples[start:end]`` enhanced by a fresh session that first hears the warm-up."""
    lead = min(start, int(WARM_UP_SECONDS * SAMPLE_RATE))
    pieces = list(enhance_samples(enhancer.session(), samples[start - lead : end], _BLOCK))
    out = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    return out[lead:]


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
