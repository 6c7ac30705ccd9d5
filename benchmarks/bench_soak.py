"""Soak: the real service (uvicorn on 127.0.0.1, its own process) under mixed traffic at about
twice what it can serve, for a bounded time and a bounded number of requests.

Capacity is measured first in the same run: each request kind is sent alone a few times and
the weighted mean latency ``S`` gives ``1 / S`` requests a second. The soak then offers
``2 / S`` a second (open loop: requests go out on schedule whatever the answers) for
``SECONDS``. Reported: status counts per endpoint (the bar: zero 5xx except 503, every 503
with Retry-After), p50/p99 latency of the accepted requests, and the server's RSS over time.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

from benchmarks._harness import EVAL_DIR, machine_load, markdown_table

SECONDS = 60.0
MAX_REQUESTS = 600
OVERLOAD = 2.0
SERVER_ENV = {"TYMPAN_INFERENCE_QUEUE_SIZE": "8", "TYMPAN_ASR_QUEUE_SIZE": "4"}


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of request of the mix and how often it comes."""

    name: str
    weight: int
    path: str
    file: Path | None = None
    fields: dict[str, str] | None = None
    json: dict[str, Any] | None = None

    def send(self, client: httpx.AsyncClient) -> Any:
        if self.json is not None:
            return client.post(self.path, json=self.json)
        assert self.file is not None
        files = {"file": (self.file.name, self.file.read_bytes())}
        return client.post(self.path, files=files, data=self.fields or {})


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str
    status: int
    seconds: float
    retry_after: str | None


SPEECH = EVAL_DIR / "bad_inputs" / "speech.ogg"
MIX = (
    Kind("vad", 3, "/v1/audio/vad", SPEECH, {"method": "silero"}),
    Kind("features", 3, "/v1/audio/features", SPEECH, {"kind": "log_mel", "format": "npy"}),
    Kind("transcription", 3, "/v1/audio/transcriptions", SPEECH),
    Kind("speaker embed", 2, "/v1/speakers/embed", SPEECH),
    Kind("speech (TTS)", 2, "/v1/audio/speech", json={"input": "The soak goes on.",
                                                      "response_format": "wav"}),
    Kind("diarization", 1, "/v1/audio/diarization", EVAL_DIR / "diarization" / "sample.wav"),
)  # fmt: skip


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_server(data_dir: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, **SERVER_ENV, "TYMPAN_DATA_DIR": data_dir}
    command = [sys.executable, "-m", "uvicorn", "tympan.api.app:create_app", "--factory",
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]  # fmt: skip
    server = subprocess.Popen(command, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return server, url
        except httpx.TransportError:
            time.sleep(0.3)
    server.kill()
    raise RuntimeError("the soak server did not start")


async def _timed(client: httpx.AsyncClient, kind: Kind) -> Outcome:
    started = time.perf_counter()
    try:
        response = await kind.send(client)
        status, retry = response.status_code, response.headers.get("retry-after")
    except httpx.TransportError:
        status, retry = 0, None  # no answer at all
    return Outcome(kind.name, status, time.perf_counter() - started, retry)


async def _calibrate(client: httpx.AsyncClient, repeats: int = 2) -> dict[str, float]:
    """Each kind alone: one warm-up (loads its models), then the mean of ``repeats``."""
    latency = {}
    for kind in MIX:
        await _timed(client, kind)
        times = [(await _timed(client, kind)).seconds for _ in range(repeats)]
        latency[kind.name] = statistics.mean(times)
    return latency


async def _soak(client: httpx.AsyncClient, rate: float, pid: int) -> tuple[list, list]:
    chooser = random.Random(0)
    count = min(MAX_REQUESTS, int(rate * SECONDS))
    kinds = chooser.choices(MIX, weights=[kind.weight for kind in MIX], k=count)
    memory: list[tuple[float, float]] = []
    process = psutil.Process(pid)
    started = time.monotonic()
    sending = True

    async def sample() -> None:
        while sending or pending:
            memory.append((time.monotonic() - started, process.memory_info().rss / 2**20))
            await asyncio.sleep(2.0)

    pending: set[asyncio.Task[Outcome]] = set()
    sampler = asyncio.create_task(sample())
    tasks = []
    for index, kind in enumerate(kinds):
        await asyncio.sleep(max(0.0, started + index / rate - time.monotonic()))
        task = asyncio.create_task(_timed(client, kind))
        pending.add(task)
        task.add_done_callback(pending.discard)
        tasks.append(task)
    sending = False
    outcomes = await asyncio.gather(*tasks)
    await sampler
    return list(outcomes), memory


def _summary(outcomes: list[Outcome]) -> list[list[Any]]:
    by_kind: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_kind[outcome.kind].append(outcome)
    rows = []
    for name, group in [*by_kind.items(), ("all", outcomes)]:
        statuses = Counter(o.status for o in group)
        accepted = [o.seconds for o in group if o.status == 200]
        p50, p99 = np.percentile(accepted, [50, 99]) if accepted else (float("nan"),) * 2
        others = {s: n for s, n in statuses.items() if s not in (200, 503)}
        rows.append([name, len(group), statuses[200], statuses[503],
                     ", ".join(f"{s}: {n}" for s, n in sorted(others.items())) or "-",
                     float(p50), float(p99)])  # fmt: skip
    return rows


def run() -> str:
    with tempfile.TemporaryDirectory(prefix="tympan-soak-") as data_dir:
        server, url = _start_server(data_dir)
        try:
            limits = httpx.Limits(max_connections=400, max_keepalive_connections=50)
            timeout = httpx.Timeout(600.0)

            async def main() -> tuple[dict[str, float], list[Outcome], list, float]:
                async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as c:
                    latency = await _calibrate(c)
                    weights = {kind.name: kind.weight for kind in MIX}
                    service = sum(latency[k] * w for k, w in weights.items()) / sum(
                        weights.values()
                    )
                    rate = OVERLOAD / service
                    outcomes, memory = await _soak(c, rate, server.pid)
                    return latency, outcomes, memory, rate

            latency, outcomes, memory, rate = asyncio.run(main())
            alive = httpx.get(f"{url}/healthz", timeout=30).status_code == 200
        finally:
            server.terminate()
            server.wait(timeout=60)
    server_errors = [o for o in outcomes if (o.status >= 500 and o.status != 503) or o.status == 0]
    bare_503 = [o for o in outcomes if o.status == 503 and not o.retry_after]
    curve = [[round(t), round(rss)] for t, rss in memory[:: max(1, len(memory) // 15)]]
    rss = [r for _, r in memory]
    half = rss[len(rss) // 2 :]
    verdict = (
        f"5xx other than 503 (or no answer): {len(server_errors)}; 503 without Retry-After: "
        f"{len(bare_503)}; service answering after the soak: {alive}. RSS start / max / end: "
        f"{rss[0]:.0f} / {max(rss):.0f} / {rss[-1]:.0f} MB; second half spread "
        f"{max(half) - min(half):.0f} MB."
    )
    settings = ", ".join(f"{k}={v}" for k, v in SERVER_ENV.items())
    return "\n\n".join(
        [
            "Alone, each kind took (mean of 2, after a warm-up): "
            + ", ".join(f"{k} {v:.2f} s" for k, v in latency.items())
            + f". Offered {rate:.2f} requests/s (x{OVERLOAD:g} the weighted capacity) for "
            f"{SECONDS:g} s: {len(outcomes)} requests. Server settings: {settings}. Machine: "
            f"{machine_load()} at the end.",
            markdown_table(
                ["endpoint", "sent", "200", "503", "other", "p50 s (200)", "p99 s (200)"],
                _summary(outcomes),
            ),
            verdict,
            "Server RSS over time:",
            markdown_table(["seconds", "RSS MB"], curve),
        ]
    )
