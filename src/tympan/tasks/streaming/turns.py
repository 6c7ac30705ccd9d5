"""``TurnDetector``: server VAD over a stream of Silero frame probabilities, frame by frame.

It only sees probabilities (32 ms frames, numbered from the start of the session) and says
where turns start and end; the session keeps the audio. Hysteresis as Silero's own: a turn
starts at ``threshold`` (held for ``MIN_START_FRAMES`` frames, so a click is not a turn) and
continues while the probability stays above ``threshold - 0.15`` and ends after the longest
silence (``silence_duration_ms``; with ``semantic_vad``, the eagerness' longest wait). A
``pause`` comes first when the silence has lasted ``pause_frames``: the turn may end there, so
its text can be decoded ahead (and, with ``semantic_vad``, the session judges from that text
whether the speaker has finished, and may end the turn there itself). ``resume`` says speech
came back after a gap of at least ``gap_frames`` (shorter than a pause, say a breath between
phrases), or of ``word_gap_frames`` (between words) once ``long_piece_frames`` of the turn have
passed since its start or its last ``resume``: the audio before the gap is a finished piece of
the turn, which can be decoded while the turn goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from tympan.tasks.streaming.options import TurnDetection
from tympan.tasks.vad import FRAME_SECONDS

__all__ = ["MIN_START_FRAMES", "TurnBoundary", "TurnDetector"]

MIN_START_FRAMES = 3
"""Consecutive speech frames (96 ms) that open a turn."""
_HYSTERESIS = 0.15


@dataclass(frozen=True, slots=True)
class TurnBoundary:
    """``start`` (first speech frame), ``end`` (frame after the last speech), ``pause`` (the
    frame after the last speech, where the turn ends unless speech comes back), ``resume``
    (the frame where speech came back after a gap that began at ``silence_from``), or
    ``timeout``.

    ``forced`` marks an end (and the start right after it) cut because the turn reached its
    longest length while speech went on: that start takes no padding from the turn before.
    """

    kind: Literal["start", "end", "pause", "resume", "timeout"]
    frame: int
    forced: bool = False
    silence_from: int | None = None


class TurnDetector:
    """Feed probabilities in order with ``push``; get the turn boundaries they complete."""

    def __init__(
        self,
        detection: TurnDetection,
        max_turn_seconds: float,
        pause_frames: int | None = None,
        gap_frames: int | None = None,
        word_gap_frames: int | None = None,
        long_piece_frames: int | None = None,
    ) -> None:
        self.detection = detection
        self.max_turn_frames = max(1, int(max_turn_seconds / FRAME_SECONDS))
        self.silence_frames = round(detection.longest_silence_ms / 1000 / FRAME_SECONDS)
        self.pause_frames = pause_frames
        self.gap_frames = gap_frames
        self.word_gap_frames = word_gap_frames
        self.long_piece_frames = long_piece_frames
        self.idle_frames = (
            None
            if detection.idle_timeout_ms is None
            else round(detection.idle_timeout_ms / 1000 / FRAME_SECONDS)
        )
        self.in_turn = False
        self.turn_start = 0
        self._speech_run = 0
        self._silence_run = 0
        self._last_speech_end = 0
        self._piece_start = 0  # the turn's start or its last resume
        self._idle_since = 0

    def push(self, probabilities: np.ndarray, first_frame: int) -> list[TurnBoundary]:
        """Boundaries found in ``probabilities``, whose first frame is number ``first_frame``."""
        boundaries: list[TurnBoundary] = []
        for offset, probability in enumerate(probabilities.tolist()):
            frame = first_frame + offset
            if self.in_turn:
                self._in_turn(frame, probability, boundaries)
            else:
                self._outside(frame, probability, boundaries)
        return boundaries

    def _outside(self, frame: int, probability: float, out: list[TurnBoundary]) -> None:
        if probability >= self.detection.threshold:
            self._speech_run += 1
            if self._speech_run >= MIN_START_FRAMES:
                self._open(frame - self._speech_run + 1, out)
            return
        self._speech_run = 0
        if self.idle_frames is not None and frame + 1 - self._idle_since >= self.idle_frames:
            out.append(TurnBoundary("timeout", frame + 1))
            self._idle_since = frame + 1

    def _in_turn(self, frame: int, probability: float, out: list[TurnBoundary]) -> None:
        if probability >= self.detection.threshold - _HYSTERESIS:
            gap = self._gap_frames()
            if gap is not None and self._silence_run >= gap:
                out.append(TurnBoundary("resume", frame, silence_from=self._last_speech_end))
                self._piece_start = frame
            self._silence_run = 0
            self._last_speech_end = frame + 1
        else:
            self._silence_run += 1
            if self._silence_run >= max(1, self.silence_frames):
                self._close(self._last_speech_end, frame + 1, out)
                return
            if self._silence_run == self.pause_frames:
                out.append(TurnBoundary("pause", self._last_speech_end))
        if frame + 1 - self.turn_start >= self.max_turn_frames:
            out.append(TurnBoundary("end", frame + 1, forced=True))
            self.turn_start = self._piece_start = frame + 1
            out.append(TurnBoundary("start", frame + 1, forced=True))

    def _gap_frames(self) -> int | None:
        """The silence after which returning speech is a ``resume``: between phrases, or
        between words once the piece has gone on ``long_piece_frames``."""
        long = self.long_piece_frames
        if long is not None and self._last_speech_end - self._piece_start >= long:
            return self.word_gap_frames or self.gap_frames
        return self.gap_frames

    def _open(self, start: int, out: list[TurnBoundary]) -> None:
        self.in_turn = True
        self.turn_start = self._piece_start = start
        self._silence_run = 0
        self._last_speech_end = start + self._speech_run
        out.append(TurnBoundary("start", start))

    def _close(self, end: int, now: int, out: list[TurnBoundary]) -> None:
        self.in_turn = False
        self._speech_run = 0
        self._idle_since = now
        out.append(TurnBoundary("end", end))

    def cut_piece(self, frame: int) -> None:
        """The open turn's piece was cut at ``frame`` without a gap (between words its text
        found): the next piece's length counts from there."""
        if self.in_turn:
            self._piece_start = frame

    @property
    def silent_frames(self) -> int:
        """Frames of silence at the end of the open turn so far (0 while speech goes on)."""
        return self._silence_run if self.in_turn else 0

    def reset(self, frame: int) -> None:
        """Forget any open turn (the buffer was cleared or committed by hand at ``frame``)."""
        self.in_turn = False
        self._speech_run = 0
        self._silence_run = 0
        self._idle_since = frame
