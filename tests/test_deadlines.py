"""Request deadlines: expired or abandoned work stops at its next check, in any thread."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tympan.audio import Audio
from tympan.audio.features import extract_features
from tympan.deadlines import Deadline, bind_to_request, check_deadline, deadline_scope
from tympan.errors import DeadlineExceeded
from tympan.tasks.vad import frame_probabilities


def _expired() -> Deadline:
    deadline = Deadline(0.01)
    time.sleep(0.02)
    return deadline


def test_no_limit_never_expires_and_no_scope_never_stops() -> None:
    check_deadline()  # outside any request
    with deadline_scope(Deadline(0)):
        check_deadline()


def test_expired_deadline_names_its_setting_and_asks_to_retry() -> None:
    with deadline_scope(_expired()), pytest.raises(DeadlineExceeded) as info:
        check_deadline()
    error = info.value
    assert (error.status, error.code, error.retry_after) == (503, "deadline_exceeded", 1)
    assert "TYMPAN_REQUEST_TIMEOUT_SECONDS" in error.message


def test_abandoned_request_says_its_client_left() -> None:
    deadline = Deadline(60)
    deadline.abandon()
    with pytest.raises(DeadlineExceeded, match="disconnected"):
        deadline.check()
    assert deadline.stopped


def test_bound_work_carries_the_deadline_into_a_thread_and_never_starts_late() -> None:
    calls: list[str] = []

    def work() -> str:
        calls.append(threading.current_thread().name)
        check_deadline()
        return "done"

    with ThreadPoolExecutor(1) as pool:
        with deadline_scope(Deadline(60)):
            assert pool.submit(bind_to_request(work)).result() == "done"
        with deadline_scope(_expired()):
            bound = bind_to_request(work)
        with pytest.raises(DeadlineExceeded):
            pool.submit(bound).result()
    assert len(calls) == 1  # the late call never ran


@pytest.mark.parametrize(
    "work",
    [
        lambda audio: extract_features(audio, "log_mel"),
        lambda audio: frame_probabilities(audio, "spectral", None),
        lambda audio: frame_probabilities(audio, "energy", None),
    ],
    ids=["features", "vad-spectral", "vad-energy"],
)
def test_long_audio_loops_stop_at_an_expired_deadline(work) -> None:
    audio = Audio.from_array(np.random.default_rng(0).normal(0, 0.1, 16_000 * 600))
    assert work(audio) is not None
    with deadline_scope(_expired()), pytest.raises(DeadlineExceeded):
        work(audio)
