"""Frame probabilities to speech segments: the step every VAD method shares.

All methods score the same grid of 32 ms frames (512 samples at 16 kHz, Silero's window), so
their outputs can be fused frame by frame and turned into segments by one routine.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from tympan.audio.types import Audio
from tympan.config import SAMPLE_RATE
from tympan.deadlines import check_deadline
from tympan.errors import InvalidParameter

__all__ = [
    "FRAME_SAMPLES",
    "FRAME_SECONDS",
    "SpeechSegment",
    "VadOptions",
    "VadResult",
    "frame_count",
    "grid_blocks",
    "to_segments",
]

FRAME_SAMPLES = 512
FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
BLOCK_FRAMES = 4096  # frames (2.2 min) scored at a time: memory stays flat as audio grows


@dataclass(frozen=True, slots=True)
class VadOptions:
    """How frame probabilities become segments (defaults follow Silero's own)."""

    threshold: float = 0.5
    neg_threshold: float | None = None
    min_speech_ms: int = 250
    min_silence_ms: int = 100
    speech_pad_ms: int = 30

    def validate(self) -> None:
        """``InvalidParameter`` (400) for values out of range."""
        if not 0.0 < self.threshold < 1.0:
            raise InvalidParameter("threshold must be between 0 and 1.", param="threshold")
        if self.neg_threshold is not None and not 0.0 <= self.neg_threshold <= self.threshold:
            raise InvalidParameter(
                "neg_threshold must be between 0 and threshold.", param="neg_threshold"
            )
        for name in ("min_speech_ms", "min_silence_ms", "speech_pad_ms"):
            if not 0 <= getattr(self, name) <= 60_000:
                raise InvalidParameter(f"{name} must be between 0 and 60000.", param=name)


@dataclass(frozen=True, slots=True)
class SpeechSegment:
    """A stretch of speech, in seconds, with the mean frame probability inside it."""

    start: float
    end: float
    confidence: float


@dataclass(frozen=True, slots=True)
class VadResult:
    """Speech segments of one recording and how much of it is speech."""

    method: str
    duration: float
    speech_ratio: float
    segments: list[SpeechSegment] = field(default_factory=list)

    @property
    def speech_seconds(self) -> float:
        """Total seconds inside segments."""
        return sum(segment.end - segment.start for segment in self.segments)


def frame_count(num_samples: int) -> int:
    """Frames on the shared grid for ``num_samples`` (a partial last frame counts)."""
    return -(-num_samples // FRAME_SAMPLES)


def grid_blocks(audio: Audio) -> Iterator[np.ndarray]:
    """The samples cut into the shared 32 ms grid, ``BLOCK_FRAMES`` frames at a time (shape
    ``(frames, 512)``, the last frame zero padded), so long audio is never framed whole."""
    samples = audio.samples
    block = BLOCK_FRAMES * FRAME_SAMPLES
    for start in range(0, samples.shape[0], block):
        check_deadline()
        piece = samples[start : start + block]
        count = frame_count(piece.shape[0])
        padded = np.zeros(count * FRAME_SAMPLES, np.float32)
        padded[: piece.shape[0]] = piece
        yield padded.reshape(count, FRAME_SAMPLES)


def to_segments(
    probabilities: np.ndarray, duration: float, method: str, options: VadOptions
) -> VadResult:
    """Hysteresis on frame probabilities, then minimum durations and padding, as Silero does."""
    options.validate()
    high = options.threshold
    low = options.neg_threshold if options.neg_threshold is not None else max(high - 0.15, 0.01)
    min_silence = options.min_silence_ms / 1000
    raw: list[list[float]] = []
    start: float | None = None
    silence_from: float | None = None
    for index, probability in enumerate(probabilities):
        time = index * FRAME_SECONDS
        if probability >= high:
            silence_from = None
            if start is None:
                start = time
        elif start is not None and probability < low:
            silence_from = time if silence_from is None else silence_from
            if time + FRAME_SECONDS - silence_from >= min_silence:
                raw.append([start, silence_from])
                start, silence_from = None, None
    if start is not None:
        raw.append([start, duration])
    pad = options.speech_pad_ms / 1000
    segments: list[SpeechSegment] = []
    for begin, end in raw:
        if end - begin < options.min_speech_ms / 1000:
            continue
        begin, end = max(0.0, begin - pad), min(duration, end + pad)
        if segments and begin <= segments[-1].end:
            begin = segments.pop().start
        first, last = int(begin / FRAME_SECONDS), max(int(np.ceil(end / FRAME_SECONDS)), 1)
        confidence = float(np.mean(probabilities[first:last])) if last > first else 0.0
        segments.append(SpeechSegment(round(begin, 3), round(end, 3), round(confidence, 4)))
    speech = sum(segment.end - segment.start for segment in segments)
    ratio = speech / duration if duration > 0 else 0.0
    return VadResult(method, round(duration, 3), round(min(ratio, 1.0), 4), segments)
