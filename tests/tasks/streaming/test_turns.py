"""Server VAD over frame probabilities: starts, ends, forced cuts, idle timeouts."""

from __future__ import annotations

import numpy as np

from tympan.tasks.streaming import LiveOptions, TurnDetection, TurnDetector
from tympan.tasks.streaming.tracker import turn_detector
from tympan.tasks.streaming.turns import MIN_START_FRAMES
from tympan.tasks.vad import FRAME_SECONDS


def _frames(seconds: float) -> int:
    return round(seconds / FRAME_SECONDS)


def _push_all(detector: TurnDetector, probabilities: np.ndarray, step: int = 5) -> list:
    boundaries = []
    for first in range(0, probabilities.shape[0], step):
        boundaries += detector.push(probabilities[first : first + step], first)
    return boundaries


def test_a_turn_starts_at_its_first_speech_frame_and_ends_after_the_silence():
    p = np.zeros(200, np.float32)
    p[50:120] = 0.9
    p[80:84] = 0.4  # a dip above threshold - 0.15 does not end the turn
    detector = TurnDetector(TurnDetection(silence_duration_ms=320), max_turn_seconds=30)
    boundaries = _push_all(detector, p, step=7)
    assert [(b.kind, b.frame) for b in boundaries] == [("start", 50), ("end", 120)]


def test_a_click_shorter_than_the_start_run_is_not_a_turn():
    p = np.zeros(100, np.float32)
    p[10 : 10 + MIN_START_FRAMES - 1] = 0.99
    assert _push_all(TurnDetector(TurnDetection(), 30), p) == []


def test_speech_longer_than_a_turn_is_cut_without_a_gap():
    p = np.full(_frames(70), 0.9, np.float32)
    boundaries = _push_all(TurnDetector(TurnDetection(), max_turn_seconds=30), p, step=64)
    kinds = [(b.kind, b.forced) for b in boundaries]
    assert kinds == [
        ("start", False),
        ("end", True),
        ("start", True),
        ("end", True),
        ("start", True),
    ]
    assert boundaries[1].frame == boundaries[2].frame == int(30 / FRAME_SECONDS)


def test_idle_timeout_fires_once_per_quiet_stretch():
    detection = TurnDetection(idle_timeout_ms=5_000)
    p = np.zeros(_frames(12), np.float32)
    boundaries = _push_all(TurnDetector(detection, 30), p)
    assert [b.kind for b in boundaries] == ["timeout", "timeout"]
    assert boundaries[0].frame == _frames(5)


def test_reset_forgets_the_open_turn():
    p = np.full(20, 0.9, np.float32)
    detector = TurnDetector(TurnDetection(), 30)
    assert [b.kind for b in detector.push(p, 0)] == ["start"]
    detector.reset(20)
    assert not detector.in_turn
    assert [b.kind for b in detector.push(p, 20)] == ["start"]


def test_a_pause_is_announced_before_the_end_and_again_after_speech_comes_back():
    p = np.zeros(200, np.float32)
    p[20:60] = 0.9
    p[72:110] = 0.9  # back after 12 silent frames: a pause, not an end
    detector = TurnDetector(
        TurnDetection(silence_duration_ms=640), max_turn_seconds=30, pause_frames=10
    )
    boundaries = [(b.kind, b.frame) for b in _push_all(detector, p, step=3)]
    assert boundaries == [("start", 20), ("pause", 60), ("pause", 110), ("end", 110)]
    quiet = TurnDetector(TurnDetection(silence_duration_ms=640), max_turn_seconds=30)
    assert [b.kind for b in _push_all(quiet, p)] == ["start", "end"]  # no pause_frames


def test_speech_coming_back_after_a_gap_resumes_the_turn_and_a_shorter_dip_does_not():
    p = np.zeros(200, np.float32)
    p[20:60] = p[72:100] = p[105:130] = p[133:150] = 0.9  # gaps of 12, 5 and 3 frames
    detection = TurnDetection(silence_duration_ms=500)
    detector = TurnDetector(detection, 30, pause_frames=10, gap_frames=5)
    boundaries = _push_all(detector, p)
    assert [(b.kind, b.frame, b.silence_from) for b in boundaries] == [
        ("start", 20, None),
        ("pause", 60, None),
        ("resume", 72, 60),
        ("resume", 105, 100),
        ("pause", 150, None),
        ("end", 150, None),
    ]


def test_the_silence_at_the_end_of_an_open_turn_is_counted_and_forgotten_once_it_ends():
    detector = TurnDetector(TurnDetection(silence_duration_ms=320), max_turn_seconds=30)
    speech, dip, pause = np.full(20, 0.9), np.full(3, 0.4), np.full(4, 0.1)
    detector.push(np.concatenate([speech, dip]), 0)
    assert detector.silent_frames == 0  # above threshold - 0.15: still speech
    detector.push(pause, 23)
    assert detector.silent_frames == 4
    detector.push(np.full(10, 0.1), 27)  # the turn ends after 320 ms
    assert not detector.in_turn and detector.silent_frames == 0


def test_a_session_decodes_ahead_before_even_a_short_silence_ends_the_turn():
    """The pause, where a session decodes the open turn ahead, comes after the 0.3 s lead-out
    with OpenAI's 500 ms silence, and at the 0.15 s gap between phrases with 200 ms: early
    enough that the decode can be done when the turn ends, which it could not be if the
    turn ended first."""
    p = np.zeros(80, np.float32)
    p[10:40] = 0.9  # silent from frame 40
    for silence_ms, paused, ended in ((500, 49, 55), (200, 44, 45)):
        options = LiveOptions(turn_detection=TurnDetection(silence_duration_ms=silence_ms))
        detector = turn_detector(options)
        assert detector is not None
        seen = [(b.kind, frame) for frame in range(80) for b in detector.push(p[frame:][:1], frame)]
        assert seen == [("start", 12), ("pause", paused), ("end", ended)], silence_ms
    assert turn_detector(LiveOptions(turn_detection=None)) is None  # manual commits


def test_a_long_piece_ends_at_a_gap_between_words_a_short_one_only_between_phrases():
    """Gaps of 3 frames (a breath between words) after 2 s and after 6 s of speech: only the
    second resumes, since by then the piece has gone on past ``long_piece_frames``; the
    piece counts again from that resume, so a 3-frame gap 2 s later does not."""
    p = np.zeros(400, np.float32)
    p[10:72] = p[75:197] = p[200:262] = p[265:300] = 0.9  # gaps at 72, 197 and 262
    detection = TurnDetection(silence_duration_ms=500)
    detector = TurnDetector(
        detection, 30, pause_frames=10, gap_frames=5, word_gap_frames=3, long_piece_frames=156
    )
    resumes = [(b.frame, b.silence_from) for b in _push_all(detector, p) if b.kind == "resume"]
    assert resumes == [(200, 197)]
    phrases_only = TurnDetector(detection, 30, pause_frames=10, gap_frames=5)
    assert not [b for b in _push_all(phrases_only, p) if b.kind == "resume"]


def test_a_piece_cut_between_words_counts_the_next_one_from_the_cut():
    """After 6 s of speech the piece is long, and a 3-frame gap would resume; cut between
    words at 5 s, the piece after it is 1 s long, so the same gap does not."""
    p = np.zeros(400, np.float32)
    p[10:197] = p[200:300] = 0.9  # a gap at 197
    detection = TurnDetection(silence_duration_ms=500)

    def resumes(cut_at: int | None) -> list[int]:
        detector = TurnDetector(
            detection, 30, pause_frames=10, gap_frames=5, word_gap_frames=3, long_piece_frames=156
        )
        found = _push_all(detector, p[:170])
        if cut_at is not None:
            detector.cut_piece(cut_at)
        found += detector.push(p[170:], 170)
        return [b.frame for b in found if b.kind == "resume"]

    assert resumes(None) == [200]
    assert resumes(165) == []
