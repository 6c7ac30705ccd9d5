"""What every benchmark shares: repeated timing, RTFx, peak memory and markdown tables.

Machines are noisy, so a benchmark compares Tympan with the underlying library in the same
process and run, and reports min/median over repeats, never an absolute time alone.
"""

from __future__ import annotations

import gc
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "EVAL_DIR",
    "RESULTS_DIR",
    "Timing",
    "machine_load",
    "markdown_table",
    "peak_rss_mb",
    "ratio",
    "start_server",
    "time_call",
]

EVAL_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "eval"
RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True, slots=True)
class Timing:
    """Seconds of each repeat of one measured call, and its last result."""

    seconds: list[float]
    result: Any = None

    @property
    def min(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def rtfx(self, audio_seconds: float) -> float:
        """Real-time factor (audio seconds per compute second), from the fastest repeat."""
        return audio_seconds / self.min if self.min > 0 else float("inf")


def time_call(fn: Callable[[], Any], repeats: int = 3, warmup: int = 1) -> Timing:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times timed."""
    result = None
    for _ in range(warmup):
        result = fn()
    seconds = []
    for _ in range(repeats):
        gc.collect()
        started = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - started)
    return Timing(seconds, result)


@dataclass(frozen=True, slots=True)
class Measured:
    """Wall and CPU seconds (this process, all threads) of each repeat, and the last text."""

    wall: list[float]
    cpu: list[float]
    text: str


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def alternated(runs: dict[str, Callable[[], str]], repeats: int) -> dict[str, Measured]:
    """Each run ``repeats`` times, interleaved; each timing is logged to stderr as it comes.

    CPU seconds are reported beside wall seconds: on a machine shared with other work the
    wall time of a run depends on what else runs, its CPU time much less.
    """
    wall: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    texts: dict[str, str] = {}
    for _ in range(repeats):
        for name, fn in runs.items():
            gc.collect()
            cpu_started, started = _cpu_seconds(), time.perf_counter()
            texts[name] = fn()
            wall[name].append(time.perf_counter() - started)
            cpu[name].append(_cpu_seconds() - cpu_started)
            print(f"{name}: {wall[name][-1]:.1f} s, {cpu[name][-1]:.1f} s CPU", file=sys.stderr)
    return {name: Measured(wall[name], cpu[name], texts[name]) for name in runs}


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator`` (inf when the denominator is 0)."""
    return numerator / denominator if denominator else float("inf")


def machine_load() -> str:
    """The machine's cores and 1-minute load average now, for a report's caveat line (a
    benchmark shares its machine; this says how much, instead of a fixed claim)."""
    return f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table."""
    lines = [
        "| " + " | ".join(headers) + " |",
        "| " + " | ".join("---" for _ in headers) + " |",
    ]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """A Tympan server on a free loopback port with ``env`` on top of ours; it and its URL."""
    import httpx

    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", "tympan.api.app:create_app", "--factory",
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]  # fmt: skip
    server = subprocess.Popen(command, env={**os.environ, **env})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return server, url
        except httpx.TransportError:
            time.sleep(0.3)
    server.kill()
    raise RuntimeError("the benchmark server did not start")
