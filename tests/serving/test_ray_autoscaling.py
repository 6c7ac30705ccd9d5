"""ASR autoscaling on Ray Serve: a real local Ray on loopback (its own, since a running ASR
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


def _running_replicas() -> int:
    deployment = serve.status().applications[f"{APP_PREFIX}asr-{MODEL}"].deployments["model"]
    return deployment.replica_states.get("RUNNING", 0)


def _wait_for(check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"not within {seconds} s: {serve.status()}"
        time.sleep(1.0)


@contextmanager
def _busy(client: Client, clients: int = 8) -> Iterator[None]:
    """``clients`` threads transcribing back to back until the block ends."""
    stop = threading.Event()

    def transcribe(first: int) -> None:
        turn = first
        while not stop.is_set():
            client.transcribe(CLIPS[turn % len(CLIPS)], model=MODEL)
            turn += 1

    with ThreadPoolExecutor(clients) as pool:
        running = [pool.submit(transcribe, i) for i in range(clients)]
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
        ray_asr_upscale_delay_seconds=1,
        ray_asr_downscale_delay_seconds=2,
    )
    with Client.in_process(settings) as client:
        assert client.transcribe(CLIPS[0], model=MODEL).text
        assert _running_replicas() == 1
        with _busy(client):
            _wait_for(lambda: _running_replicas() == 2, 90)
        _wait_for(lambda: _running_replicas() == 1, 90)
