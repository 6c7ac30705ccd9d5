"""Scale-out: the same ASR requests served embedded and on Ray Serve replicas, one run.

Each configuration is a real server (uvicorn on loopback) started here and stopped after; the
Ray ones start their own local Ray (127.0.0.1, ``TYMPAN_RAY_NUM_CPUS``) and stop it on exit.
Every configuration answers the same LJSpeech clips from 8 concurrent clients (one warm-up
pass, which also deploys the replicas, then timed passes), configurations alternating over
``ROUNDS`` rounds: latency p50/p95 and throughput, the overhead of each Ray layout against
embedded, and what a second 1-CPU replica adds to one.

Last, on Ray with one 1-CPU replica, serving p95 with and without a classifier training job
running as a Ray task on the other CPU (Ray reserves one CPU for each, so ASR and training
share the machine by reservation; the VAD replica's half CPU is the one oversubscribed).
"""

from __future__ import annotations

import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks._harness import EVAL_DIR, machine_load, markdown_table, ratio, start_server
from tympan.client import Client

CLIENTS = 8
CLIPS = 24  # LJSpeech clips per pass (1.9-10 s each)
PASSES = 2  # timed passes per configuration, after one warm-up pass
MODEL = "whisper-tiny.en"
CONFIGS: list[tuple[str, dict[str, str]]] = [
    ("embedded (2 threads)", {"TYMPAN_CPU_THREADS": "2"}),
    (
        "Ray, 1 replica x 2 CPUs",
        {"TYMPAN_RAY_ASR_REPLICAS": "1", "TYMPAN_RAY_ASR_REPLICA_CPUS": "2"},
    ),
    (
        "Ray, 2 replicas x 1 CPU",
        {"TYMPAN_RAY_ASR_REPLICAS": "2", "TYMPAN_RAY_ASR_REPLICA_CPUS": "1"},
    ),
    (
        "Ray, 1 replica x 1 CPU",
        {"TYMPAN_RAY_ASR_REPLICAS": "1", "TYMPAN_RAY_ASR_REPLICA_CPUS": "1"},
    ),
]
ROUNDS = int(os.environ.get("TYMPAN_BENCH_ROUNDS", "2"))  # configurations alternate per round
RAY = {"TYMPAN_RAY_ADDRESS": "local", "TYMPAN_RAY_NUM_CPUS": "3"}
"""Three reservations on the 2 cores: the ASR layouts take two, the whole-file VAD replica
(which every transcription calls first) half of the third; with two, the VAD replica beside a
2-CPU ASR replica, or a training task beside ASR and VAD, could never be placed."""


def _clips() -> list[Path]:
    with (EVAL_DIR / "asr_ljspeech" / "manifest.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [EVAL_DIR / "asr_ljspeech" / row["audio"] for row in rows[:CLIPS]]


@contextmanager
def _server(env: dict[str, str]) -> Iterator[str]:
    data = Path(tempfile.mkdtemp(prefix="tympan-bench-scale-"))
    server, url = start_server({"TYMPAN_DATA_DIR": str(data), **env})
    try:
        yield url
    finally:
        server.terminate()  # graceful: the app deletes its Serve apps and stops its Ray
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(data, ignore_errors=True)


def _pass(url: str, clips: list[Path]) -> tuple[list[float], float, int]:
    """Every clip once from ``CLIENTS`` concurrent clients: latencies, wall seconds, errors."""
    errors = 0

    def one(clip: Path) -> float:
        nonlocal errors
        started = time.perf_counter()
        try:
            with Client(url, timeout=300) as client:
                client.transcribe(clip, model=MODEL)
        except Exception:
            errors += 1
        return time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        latencies = list(pool.map(one, clips))
    return latencies, time.perf_counter() - started, errors


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


@dataclass(slots=True)
class _Passes:
    """Latencies and pass times of one configuration, gathered over its rounds."""

    latencies: list[float] = field(default_factory=list)
    walls: list[float] = field(default_factory=list)
    errors: int = 0

    def summary(self, clips: int) -> dict[str, float]:
        return {
            "p50": statistics.median(self.latencies),
            "p95": _p95(self.latencies),
            "throughput": clips / statistics.median(self.walls),
            "errors": self.errors,
        }


def _measure(
    url: str, clips: list[Path], passes: int = PASSES, into: _Passes | None = None
) -> dict[str, float]:
    _pass(url, clips)  # warm-up: loads the model (deploys the replicas on Ray)
    measured = into if into is not None else _Passes()
    for _ in range(passes):
        seen, wall, failed = _pass(url, clips)
        measured.latencies += seen
        measured.walls.append(wall)
        measured.errors += failed
    return measured.summary(len(clips))


def _digits(folder: Path) -> Path:
    """A spoken-digit dataset (FSDD: 3 digits x 3 speakers x 16 clips) as a manifest."""
    with (EVAL_DIR / "fsdd" / "manifest.csv").open(newline="") as handle:
        rows = [
            row
            for row in csv.DictReader(handle)
            if row["label"] in ("0", "1", "2") and row["speaker"] in ("jackson", "theo", "george")
            and int(Path(row["audio"]).stem.rsplit("_", 1)[1]) < 16
        ]  # fmt: skip
    lines = ["path,label,speaker"]
    for row in rows:
        target = folder / row["audio"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(EVAL_DIR / "fsdd" / row["audio"], target)
        lines.append(f"{row['audio']},{row['label']},{row['speaker']}")
    (folder / "manifest.csv").write_text("\n".join(lines) + "\n")
    return folder


def _while_training(clips: list[Path]) -> str:
    env = {**RAY, "TYMPAN_RAY_ASR_REPLICAS": "1", "TYMPAN_RAY_ASR_REPLICA_CPUS": "1"}
    with _server(env) as url, tempfile.TemporaryDirectory() as data:
        quiet = _measure(url, clips)
        with Client(url) as client:
            job = client.train_classifier(
                "digits", _digits(Path(data)), max_epochs=400, patience=400, augment_copies=2
            )
            while client.job(job["id"])["status"] == "queued":
                time.sleep(0.2)
            latencies: list[float] = []
            passes = 0
            while client.job(job["id"])["status"] == "running" or not passes:
                seen, _, _ = _pass(url, clips)
                latencies += seen
                passes += 1
            final = client.wait_job(job["id"], timeout=300)
    metrics = final["result"]["metrics"]
    busy_p50, busy_p95 = statistics.median(latencies), _p95(latencies)
    table = markdown_table(
        ["serving (Ray, 1 replica x 1 CPU)", "requests", "p50 s", "p95 s"],
        [
            ["no training", PASSES * len(clips), quiet["p50"], quiet["p95"]],
            ["training on Ray (1 CPU)", len(latencies), busy_p50, busy_p95],
        ],
    )
    return (
        f"{table}\n\np95 with training / without: **{ratio(busy_p95, quiet['p95']):.2f}x** "
        f"(the training task ran in `{metrics['trained_by']}` for "
        f"{metrics['training_seconds']} s, best epoch {metrics['best_epoch']}; {passes} passes "
        "measured while it ran)."
    )


def run() -> str:
    clips = _clips()
    gathered = {name: _Passes() for name, _ in CONFIGS}
    for _ in range(ROUNDS):  # alternated, so load on the shared machine hits each alike
        for name, env in CONFIGS:
            with _server({**RAY, **env} if name.startswith("Ray") else env) as url:
                seen = _measure(url, clips, into=gathered[name])
            print(f"bench_scale: {name}: {seen}", file=sys.stderr, flush=True)
    results = {name: passes.summary(len(clips)) for name, passes in gathered.items()}
    base = results[CONFIGS[0][0]]
    rows = [
        [
            name,
            result["p50"],
            result["p95"],
            result["throughput"],
            ratio(result["p50"], base["p50"]),
            ratio(base["throughput"], result["throughput"]),
            int(result["errors"]),
        ]
        for name, result in results.items()
    ]
    table = markdown_table(
        ["configuration", "p50 s", "p95 s", "requests/s", "p50 / embedded",
         "embedded / throughput", "errors"],
        rows,
    )  # fmt: skip
    wide, two, single = (results[name] for name, _ in CONFIGS[1:])
    overheads = [
        f"{layout}: p50 **{100 * (ratio(ray['p50'], base['p50']) - 1):+.0f} %**, throughput "
        f"**{100 * (ratio(ray['throughput'], base['throughput']) - 1):+.0f} %**"
        for layout, ray in (("1 replica x 2 CPUs", wide), ("2 replicas x 1 CPU", two))
    ]
    return "\n\n".join(
        [
            f"{CLIENTS} concurrent clients, {len(clips)} LJSpeech clips per pass, {PASSES} timed "
            f"passes after a warm-up in each of {ROUNDS} alternated rounds, {MODEL}, beam 5.",
            table,
            f"Ray overhead at {CLIENTS} clients against embedded (goal: within 10 %): "
            f"{'; '.join(overheads)}. Throughput of 2 replicas x 1 CPU against 1 replica x 1 "
            f"CPU (what each added 1-CPU replica brings): "
            f"**{ratio(two['throughput'], single['throughput']):.2f}x**; against 1 replica x 2 "
            f"CPUs: **{ratio(two['throughput'], wide['throughput']):.2f}x**.",
            "### Serving while training on Ray\n\n" + _while_training(clips),
            f"Machine: {machine_load()} after the run.",
        ]
    )
