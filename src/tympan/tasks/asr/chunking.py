"""Cut a recording into the <=30 s windows Whisper decodes, at the quietest places.

Whisper's encoder sees exactly 30 s, so long audio must be cut. Cutting on a fixed grid
splits words; Tympan cuts where Silero VAD says there is the least speech, then merges
neighbouring pieces while they still fit one window, so a window carries as much speech as
possible (fewer windows, less compute) and every cut falls in a pause.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tympan.tasks.vad import FRAME_SECONDS, VadOptions, VadResult
from tympan.tasks.vad.segments import to_segments

__all__ = ["CHUNK_VAD_OPTIONS", "MAX_CHUNK_SECONDS", "Chunk", "plan_chunks"]

MAX_CHUNK_SECONDS = 30.0
_MIN_CUT_SECONDS = 10.0  # a forced cut inside speech is searched for after this much
_PAUSE_PROBABILITY = 0.2  # a frame this unlikely to be speech is part of a pause
_PAUSE_FRAMES = 5  # 0.16 s; 3 frames (0.1 s) cost the chapter 0.3 WER points for one window less
_MAX_MERGED_GAP = 4.0  # longer silences are left out: Whisper tends to invent text in them
CHUNK_VAD_OPTIONS = VadOptions(
    threshold=0.5, min_speech_ms=250, min_silence_ms=500, speech_pad_ms=500
)
"""Segments for chunking: 0.5 s pauses end a segment; 0.5 s pads keep word edges and give
Whisper the lead-in it expects (200 ms pads cost tiny.en words on asr_small and LJSpeech)."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """One window to decode: ``start`` and ``end`` in seconds of the whole recording."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start

    def frames(self, probabilities: np.ndarray) -> np.ndarray:
        """The chunk's share of a recording's per-frame speech ``probabilities``."""
        return probabilities[round(self.start / FRAME_SECONDS) : round(self.end / FRAME_SECONDS)]


def _cut_frame(window: np.ndarray) -> int:
    """Where to cut a stretch of speech: the middle of its last pause, else its quietest frame.

    A pause is a run of ``_PAUSE_FRAMES`` frames under ``_PAUSE_PROBABILITY``. Cutting at the
    last one fills the window (faster-whisper's VAD also splits over-long speech at its last
    silence); the quietest frame anywhere in the range left windows of 23.5 s on average on
    the long-form chapter.
    """
    quiet = window < _PAUSE_PROBABILITY
    runs = np.convolve(quiet, np.ones(_PAUSE_FRAMES, dtype=int), mode="valid") == _PAUSE_FRAMES
    starts = np.flatnonzero(runs)
    if starts.size == 0:
        return int(np.argmin(window))
    last = int(starts[-1])
    louder = np.flatnonzero(~runs[:last])  # where the last pause's run of quiet frames begins
    first = int(louder[-1]) + 1 if louder.size else 0
    return (first + last + _PAUSE_FRAMES) // 2


def _split_long(
    start: float, end: float, probabilities: np.ndarray, max_seconds: float
) -> list[tuple[float, float]]:
    """Cut ``[start, end)`` into pieces of at most ``max_seconds`` in pauses (``_cut_frame``)."""
    pieces = []
    while end - start > max_seconds:
        first = int((start + min(_MIN_CUT_SECONDS, max_seconds / 2)) / FRAME_SECONDS)
        last = int((start + max_seconds) / FRAME_SECONDS)
        window = probabilities[first:last]
        cut = (first + _cut_frame(window)) * FRAME_SECONDS if window.size else start + max_seconds
        cut = min(max(cut, start + FRAME_SECONDS), start + max_seconds)
        pieces.append((start, cut))
        start = cut
    pieces.append((start, end))
    return pieces


def plan_chunks(
    probabilities: np.ndarray,
    duration: float,
    *,
    speech_only: bool = True,
    max_seconds: float = MAX_CHUNK_SECONDS,
    vad_options: VadOptions = CHUNK_VAD_OPTIONS,
) -> tuple[list[Chunk], VadResult]:
    """Windows covering the speech (``speech_only``) or the whole recording, each <= max_seconds.

    ``probabilities`` are Silero's per-frame speech probabilities, cut into speech segments
    with ``vad_options``. Returns the windows in time order and the VAD result they were
    planned from.
    """
    vad = to_segments(probabilities, duration, "silero", vad_options)
    if speech_only:
        regions = [(segment.start, segment.end) for segment in vad.segments]
    else:
        regions = [(0.0, duration)] if duration > 0 else []
    pieces = [
        piece
        for start, end in regions
        for piece in _split_long(start, end, probabilities, max_seconds)
    ]
    chunks: list[Chunk] = []
    for start, end in pieces:
        joins = chunks and end - chunks[-1].start <= max_seconds
        if joins and (not speech_only or start - chunks[-1].end <= _MAX_MERGED_GAP):
            chunks[-1] = Chunk(chunks[-1].start, end)
        else:
            chunks.append(Chunk(start, end))
    return [Chunk(round(c.start, 3), round(c.end, 3)) for c in chunks], vad
