"""Metrics overhead: short transcriptions with the request metrics on vs off, in one run.

Two real servers on loopback in this process, made from the same settings; the "off" app has
``RequestMetrics`` (the per-request counter and latency histogram) taken out of its middleware.
Requests alternate between the two (interleaved), and the p50 and min of each are compared;
the issue's goal is a p50 ratio of at most 1.02. The deeper hooks (decoding, inference,
batching) stay on in both apps; their cost is bounded by a direct loop over the same updates
one request makes, and the cost of a scrape of ``/metrics`` is reported beside them.
"""

from __future__ import annotations

import csv
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from fastapi import FastAPI
from tests.live_server import serve_in_thread

from benchmarks._harness import EVAL_DIR, machine_load, markdown_table, ratio, time_call
from tympan.api.app import create_app
from tympan.api.metrics import RequestMetrics
from tympan.config import Settings
from tympan.metrics import (
    ASR_AUDIO_SECONDS,
    AUDIO_SECONDS,
    BATCH_SIZE,
    INFERENCE_SECONDS,
    REQUEST_SECONDS,
    REQUESTS,
)

ROUNDS = 40
MODEL = "whisper-tiny.en"
ROUTE = "/v1/audio/transcriptions"


def _short_clip() -> Path:
    """The shortest clip of asr_small: request overhead matters most on short audio."""
    with (EVAL_DIR / "asr_small" / "manifest.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    shortest = min(rows, key=lambda row: float(row["duration_s"]))
    return EVAL_DIR / "asr_small" / shortest["audio"]


def _without_request_metrics(settings: Settings) -> FastAPI:
    """The same app with its request-metrics middleware removed (before it first starts)."""
    app = create_app(settings)
    app.user_middleware = [m for m in app.user_middleware if m.cls is not RequestMetrics]
    return app


def _transcribe(client: httpx.Client, audio: bytes, name: str) -> float:
    started = time.perf_counter()
    response = client.post(ROUTE, files={"file": (name, audio)}, data={"model": MODEL})
    response.raise_for_status()
    return time.perf_counter() - started


def _interleaved(on_url: str, off_url: str, clip: Path) -> tuple[list[float], list[float]]:
    audio = clip.read_bytes()
    on_times: list[float] = []
    off_times: list[float] = []
    with (
        httpx.Client(base_url=on_url, timeout=120) as on,
        httpx.Client(base_url=off_url, timeout=120) as off,
    ):
        for client in (on, off):  # load the model in each server, untimed
            _transcribe(client, audio, clip.name)
        for index in range(ROUNDS):
            first, second = (on, off) if index % 2 == 0 else (off, on)  # alternate who is first
            for client in (first, second):
                seconds = _transcribe(client, audio, clip.name)
                (on_times if client is on else off_times).append(seconds)
    return on_times, off_times


def _hook_cost_seconds(loops: int = 20_000) -> float:
    """Seconds the metric updates of one transcription take (the middleware's and the hooks')."""

    def one_request() -> None:
        REQUESTS.labels(ROUTE, "POST", "200").inc()
        REQUEST_SECONDS.labels(ROUTE, "POST").observe(0.1)
        AUDIO_SECONDS.labels(ROUTE).inc(3.0)
        INFERENCE_SECONDS.labels("asr", MODEL).observe(0.1)
        ASR_AUDIO_SECONDS.labels(MODEL).inc(3.0)
        BATCH_SIZE.labels(f"asr:{MODEL}").observe(1)

    timing = time_call(lambda: [one_request() for _ in range(loops)], repeats=5)
    return timing.min / loops


def run() -> str:
    clip = _short_clip()
    with tempfile.TemporaryDirectory() as on_dir, tempfile.TemporaryDirectory() as off_dir:
        on_settings = Settings(_env_file=None, data_dir=Path(on_dir))  # type: ignore[call-arg]
        off_settings = Settings(_env_file=None, data_dir=Path(off_dir))  # type: ignore[call-arg]
        with (
            serve_in_thread(on_settings) as on_url,
            serve_in_thread(off_settings, app=_without_request_metrics(off_settings)) as off_url,
        ):
            on_times, off_times = _interleaved(on_url, off_url, clip)
            with httpx.Client(base_url=on_url) as client:
                scrape = time_call(lambda: client.get("/metrics").raise_for_status(), repeats=10)
    on_p50, off_p50 = statistics.median(on_times), statistics.median(off_times)
    hook = _hook_cost_seconds()
    rows = [
        ["p50 latency, ms", on_p50 * 1e3, off_p50 * 1e3, ratio(on_p50, off_p50)],
        [
            "min latency, ms",
            min(on_times) * 1e3,
            min(off_times) * 1e3,
            ratio(min(on_times), min(off_times)),
        ],
    ]
    costs = [
        [
            "metric updates of one transcription (direct loop)",
            hook * 1e6,
            f"{100 * ratio(hook, off_p50):.4f} %",
        ],
        ["GET /metrics scrape over loopback (min of 10)", scrape.min * 1e6, "-"],
    ]
    return "\n\n".join(
        [
            f"Short transcription ({clip.name}, model {MODEL}), {ROUNDS} interleaved rounds, "
            f"two servers in one process; machine: {machine_load()}.",
            markdown_table(["figure", "metrics on", "metrics off", "on / off"], rows),
            "Cost of the metric work itself (min over repeats):",
            markdown_table(["what", "microseconds", "share of p50 (off)"], costs),
        ]
    )
