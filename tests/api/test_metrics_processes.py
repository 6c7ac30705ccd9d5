"""``/metrics`` with several uvicorn workers: prometheus-client's multiprocess mode adds up
every worker's samples, whichever worker answers the scrape."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

REQUESTS = 40


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _healthz_count(text: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "tympan_requests_total"
        and sample.labels.get("route") == "/healthz"
        and sample.labels.get("status") == "200"
    )


def _wait_until_up(url: str, deadline: float) -> int:
    """Poll /healthz until it answers; how many polls answered 200 (they are counted too)."""
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return 1
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("uvicorn did not start in time")


def test_two_workers_count_every_request_once(tmp_path: Path) -> None:
    folder = tmp_path / "prometheus"
    folder.mkdir()
    port = _free_port()
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(folder),
        "TYMPAN_DATA_DIR": str(tmp_path / "data"),
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "tympan.api.app:create_app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        answered = _wait_until_up(url, time.monotonic() + 120)
        for _ in range(REQUESTS):  # a new connection each: the workers share the socket
            assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
        answered += REQUESTS
        pids = {path.stem.rsplit("_", 1)[-1] for path in folder.glob("counter_*.db")}
        assert len(pids) == 2, f"one worker served every request ({pids}); nothing to add up"
        for _ in range(4):  # whichever worker answers, it reports both workers' requests
            scrape = httpx.get(f"{url}/metrics", timeout=10)
            assert scrape.status_code == 200
            assert _healthz_count(scrape.text) == answered
    finally:
        server.terminate()
        server.wait(timeout=60)
