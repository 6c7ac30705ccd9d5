"""Autoscaling on Ray Serve: a real local Ray on loopback (its own, since a running
application of another module would be adopted with its own settings), real requests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from tests.conftest import EVAL_DIR, make_settings, wait_until  # noqa: E402
from tympan.client import Client  # noqa: E402
from tympan.serving.ray import APP_PREFIX, count_running  # noqa: E402

# Bounds, not goals: in `make test` this module runs beside the rest of the suite (the Ray
# lane), where the whole test once took 223 s against 93 s alone.
pytestmark = pytest.mark.timeout(480)

MODEL = "whisper-tiny.en"
CLIPS = [EVAL_DIR / "asr_ljspeech" / f"LJ001-000{n}.flac" for n in (1, 2, 3, 4)]


@contextmanager
def _busy(clients: list[Callable[[int], object]]) -> Iterator[None]:
    """One thread per client, each making its requests back to back until the block ends
    (a client gets how many requests it made before)."""
    stop = threading.Event()

    def keep_asking(request: Callable[[int], object]) -> None:
        turn = 0
        while not stop.is_set():
            request(turn)
            turn += 1

    with ThreadPoolExecutor(len(clients)) as pool:
        running = [pool.submit(keep_asking, client) for client in clients]
        try:
            yield
        finally:
            stop.set()
            for future in running:
                future.result()  # a failed request fails the test


def test_replicas_scale_up_under_load_and_back_down_when_idle(
    ray_cluster: None, tmp_path: Path
) -> None:
    """ASR, and speaker embeddings standing for the other families (each has its
    ``_MAX_REPLICAS``), scaled at once: clients transcribing and clients asking for
    embeddings bring a second replica of each up, and both go once the clients stop."""
    voice = EVAL_DIR / "speakers" / "audio" / "1688-142285-0000.flac"
    settings = make_settings(
        tmp_path,
        ray_address="local",
        ray_asr_max_replicas=2,
        ray_speaker_max_replicas=2,
        ray_speaker_replica_cpus=0.25,  # 2 ASR + 2 speaker + the VAD replica fit in 3 CPUs
        ray_upscale_delay_seconds=1,
        ray_downscale_delay_seconds=2,
    )
    with Client.in_process(settings) as client:
        assert client.transcribe(CLIPS[0], model=MODEL).text
        apps = [
            f"{APP_PREFIX}asr-{MODEL}",
            f"{APP_PREFIX}speaker-{client.speaker_embedding(voice).model}",
        ]
        assert [count_running(app) for app in apps] == [1, 1]

        def transcribe(turn: int) -> None:
            client.transcribe(CLIPS[turn % len(CLIPS)], model=MODEL)

        def embed(turn: int) -> None:
            client.speaker_embedding(voice)

        # Four clients on each family from the start: mixed in one client, the embeddings
        # waited behind the transcriptions, and Serve scaled them up 27 s after ASR.
        with _busy([transcribe] * 4 + [embed] * 4):
            wait_until(lambda: [count_running(app) for app in apps] == [2, 2], "2 + 2", 240)
        wait_until(lambda: [count_running(app) for app in apps] == [1, 1], "1 + 1", 180)
