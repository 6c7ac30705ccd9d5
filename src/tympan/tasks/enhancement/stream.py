"""Whole recordings through an enhancer: as ``Audio`` (before a task), or as encoded bytes.

``EnhancementStream`` is what ``POST /v1/audio/enhancements`` serves: each ``next_chunk``
enhances one block and encodes it with the shared encoder, so the first bytes leave before
the rest is computed and memory is bounded by the block, however long the recording. With the
enhancer on Ray replicas, ``PartedEnhancement`` serves it instead, one part per plain call.
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

__all__ = [
    "BLOCK_SECONDS",
    "EnhancementStream",
    "PartedEnhancement",
    "enhance_audio",
    "enhance_part",
]

BLOCK_SECONDS = 10.0
"""Audio enhanced per step: bounds memory and how long one step holds a worker."""

_BLOCK = int(BLOCK_SECONDS * SAMPLE_RATE)


PART_SECONDS = 20.0
"""Shortest part a recording is split into to run on several cores (each part costs a warm-up
and, with DeepFilterNet, a model state); also each part of ``PartedEnhancement``."""

_PART = int(PART_SECONDS * SAMPLE_RATE)

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
    return enhance_part(enhancer, samples[start - lead : end], lead)


def enhance_part(enhancer: Enhancer, samples: np.ndarray, lead: int) -> np.ndarray:
    """``samples`` enhanced by a fresh session, without the output of the first ``lead``
    (the warm-up): one part of a recording, a plain call that runs wherever the enhancer is
    served (the pool, or a Ray Serve replica)."""
    pieces = list(enhance_samples(enhancer.session(), samples, _BLOCK))
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


class PartedEnhancement:
    """The encoded, enhanced audio of one recording for an enhancer served elsewhere (Ray):
    the recording is cut into parts of ``PART_SECONDS``, each enhanced by one plain call of
    ``enhance_part`` after a ``WARM_UP_SECONDS`` lead-in, while the position and the encoder
    stay here. A replica cannot keep a stream's recurrent state between calls, so each part
    starts a fresh one after its lead-in, as ``enhance_audio``'s parts on several cores do."""

    def __init__(self, audio: Audio, response_format: EncodedFormat) -> None:
        self.media_type = FORMATS[response_format].media_type
        self._samples = audio.samples
        self._start = 0
        self._given = False
        self._encoder = AudioEncoder(response_format, SAMPLE_RATE)

    @property
    def sample_rate(self) -> int:
        """The rate of the encoded audio (16 kHz, or the format's fixed rate)."""
        return self._encoder.rate

    def next_part(self) -> tuple[np.ndarray, int] | None:
        """The next part's samples, its warm-up included, and the warm-up's length; ``None``
        once every part was given out (an empty recording is one empty part)."""
        total = self._samples.shape[0]
        if self._given and self._start >= total:
            return None
        self._given = True
        start, end = self._start, min(total, self._start + _PART)
        lead = min(start, int(WARM_UP_SECONDS * SAMPLE_RATE))
        self._start = end
        return self._samples[start - lead : end], lead

    def encode(self, samples: np.ndarray) -> bytes:
        """One enhanced part, encoded (empty while the encoder buffers)."""
        return self._encoder.encode(samples)

    def finish(self) -> bytes:
        """What the encoder still holds."""
        return self._encoder.finish()
