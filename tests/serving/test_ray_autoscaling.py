"""Autoscaling on Ray Serve: a real local Ray on loopback (its own, since a running
application of another module would be adopted with its own settings), real requests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")
from ray import serve  # noqa: E402

from tests.conftest import EVAL_DIR, make_settings  # noqa: E402
from tympan.client import Client  # noqa: E402
from tympan.serving.ray import APP_PREFIX  # noqa: E402

pytestmark = pytest.mark.timeout(240)

MODEL = "whisper-tiny.en"
CLIPS = [EVAL_DIR / "asr_ljspeech" / f"LJ001-000{n}.flac" for n in (1, 2, 3, 4)]


def _running_replicas(app: str) -> int:
    deployment = serve.status().applications[app].deployments["model"]
    return deployment.replica_states.get("RUNNING", 0)


def _wait_for(check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"not within {seconds} s: {serve.status()}"
        time.sleep(1.0)


@contextmanager
def _busy(request: Callable[[int], object], clients: int = 8) -> Iterator[None]:
    """``clients`` threads making requests back to back until the block ends (``request``
    gets how many the thread made before, offset by the thread's number)."""
    stop = threading.Event()

    def keep_asking(first: int) -> None:
        turn = first
        while not stop.is_set():
            request(turn)
            turn += 1

    with ThreadPoolExecutor(clients) as pool:
        running = [pool.submit(keep_asking, i) for i in range(clients)]
        try:
            yield
        finally:
            stop.set()
            for future in running:
                future.result()  # a failed request fails the test


def test_asr_replicas_scale_up_under_load_and_back_down_when_idle(
    ray_cluster: None, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path,
        ray_address="local",
        ray_asr_replicas=1,
        ray_asr_max_replicas=2,
        ray_upscale_delay_seconds=1,
        ray_downscale_delay_seconds=2,
    )
    with Client.in_process(settings) as client:
        assert client.transcribe(CLIPS[0], model=MODEL).text
        app = f"{APP_PREFIX}asr-{MODEL}"
        assert _running_replicas(app) == 1
        with _busy(lambda turn: client.transcribe(CLIPS[turn % len(CLIPS)], model=MODEL)):
            _wait_for(lambda: _running_replicas(app) == 2, 90)
        _wait_for(lambda: _running_replicas(app) == 1, 90)


def test_the_other_families_autoscale_with_the_same_settings(
    ray_cluster: None, tmp_path: Path
) -> None:
    """Speaker embeddings stand for the other families (each has its ``_MAX_REPLICAS``): many
    short calls at once bring a second replica up, and it goes once they stop."""
    voice = EVAL_DIR / "speakers" / "audio" / "1688-142285-0000.flac"
    settings = make_settings(
        tmp_path,
        ray_address="local",
        ray_speaker_replica_cpus=0.5,
        ray_speaker_max_replicas=2,
        ray_upscale_delay_seconds=1,
        ray_downscale_delay_seconds=2,
    )
    with Client.in_process(settings) as client:
        app = f"{APP_PREFIX}speaker-{client.speaker_embedding(voice).model}"
        assert _running_replicas(app) == 1
        with _busy(lambda _turn: client.speaker_embedding(voice)):
            _wait_for(lambda: _running_replicas(app) == 2, 90)
        _wait_for(lambda: _running_replicas(app) == 1, 90)
