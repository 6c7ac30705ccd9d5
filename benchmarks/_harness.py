"""What every benchmark shares: repeated timing, RTFx, peak memory and markdown tables.

Machines are noisy, so a benchmark compares Tympan with the underlying library in the same
process and run, and reports min/median over repeats, never an absolute time alone.
"""

from __future__ import annotations

import gc
import os
import resource
import statistics
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
