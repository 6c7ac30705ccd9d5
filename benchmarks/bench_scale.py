"""Scale-out: the same ASR requests served embedded and on Ray Serve replicas, one run.

Each configuration is a real server (uvicorn on loopback) started here and stopped after; the
Ray ones start their own local Ray (127.0.0.1, ``TYMPAN_RAY_NUM_CPUS``) and stop it on exit.
Every configuration answers the same LJSpeech clips from 8 concurrent clients (one warm-up
pass, which also deploys the replicas, then timed passes), configurations alternating over
``ROUNDS`` rounds: latency p50/p95 and throughput, the overhead of each Ray layout against
embedded, and what a second 1-CPU replica adds to one.

Then where the overhead goes: each part's CPU seconds per request in those runs, and one batch
decoded in this process and by a replica (the hop, the decode's own time on each side) and
what Ray's processes use idle. Last, on Ray with one 1-CPU replica, serving p95 with and
without a classifier training job running as a Ray task on the other CPU (Ray reserves one CPU
for each, so ASR and training share the machine by reservation; the VAD replica's half CPU is
the one oversubscribed).
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

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

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
def _server(env: dict[str, str]) -> Iterator[tuple[str, int]]:
    """A server for one configuration: its URL and process id."""
    data = Path(tempfile.mkdtemp(prefix="tympan-bench-scale-"))
    server, url = start_server({"TYMPAN_DATA_DIR": str(data), **env})
    try:
        yield url, server.pid
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
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per request, summed
    rounds: int = 0
    batch_sizes: list[float] = field(default_factory=list)  # mean chunks a batch, per round

    def summary(self, clips: int) -> dict[str, float]:
        return {
            "p50": statistics.median(self.latencies),
            "p95": _p95(self.latencies),
            "throughput": clips / statistics.median(self.walls),
            "errors": self.errors,
        }


PARTS = ("API process", "ASR replicas", "VAD replica", "Ray's own processes")


def _part_of(process: psutil.Process, server: int) -> str:
    """Which part of a configuration a process of its tree is (Ray names each worker's
    process after the actor it runs)."""
    if process.pid == server:
        return PARTS[0]
    command = " ".join(process.cmdline())
    if "ServeReplica:tympan-asr" in command:
        return PARTS[1]
    if "ServeReplica:tympan-vad" in command:
        return PARTS[2]
    return PARTS[3]


def _cpu_seconds(server: int) -> dict[int, tuple[str, float]]:
    """Each process of the server's tree (a local Ray's processes are its descendants): its
    part and the CPU seconds it used so far."""
    root = psutil.Process(server)
    used = {}
    for process in [root, *root.children(recursive=True)]:
        try:
            used[process.pid] = (_part_of(process, server), _cpu_of(process))
        except psutil.Error:  # ended meanwhile
            continue
    return used


def _cpu_used(before: dict, after: dict) -> dict[str, float]:
    """CPU seconds each part used between two ``_cpu_seconds``; a process is the part either
    look named (a worker's title is its actor's, but not at every instant)."""
    used = dict.fromkeys(PARTS, 0.0)
    for pid, (part, seconds) in after.items():
        earlier_part, earlier = before.get(pid, (part, 0.0))
        used[part if part != PARTS[3] else earlier_part] += seconds - earlier
    return used


def _measure(
    url: str, clips: list[Path], passes: int = PASSES, into: _Passes | None = None
) -> dict[str, float]:
    _pass(url, clips)  # warm-up: loads the model (deploys the replicas on Ray)
    return _timed(url, clips, passes, into if into is not None else _Passes())


def _timed(url: str, clips: list[Path], passes: int, into: _Passes) -> dict[str, float]:
    for _ in range(passes):
        seen, wall, failed = _pass(url, clips)
        into.latencies += seen
        into.walls.append(wall)
        into.errors += failed
    return into.summary(len(clips))


def _batches(url: str) -> tuple[float, float]:
    """The ASR queue's batches so far and the chunks in them (``tympan_batch_size``)."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    found = {"count": 0.0, "sum": 0.0}
    for family in text_string_to_metric_families(text):
        if family.name != "tympan_batch_size":
            continue
        for sample in family.samples:
            kind = sample.name.rsplit("_", 1)[-1]
            if sample.labels.get("queue") == f"asr:{MODEL}" and kind in found:
                found[kind] += sample.value
    return found["count"], found["sum"]


def _measure_with_cpu(server: tuple[str, int], clips: list[Path], into: _Passes) -> dict:
    """``_measure``, and the CPU seconds per request each part used in the timed passes."""
    url, pid = server
    _pass(url, clips)  # warm-up: loads the model (deploys the replicas on Ray)
    before, batches_before = _cpu_seconds(pid), _batches(url)
    seen = _timed(url, clips, PASSES, into)
    used = _cpu_used(before, _cpu_seconds(pid))
    (batches, chunks), (batches_then, chunks_then) = _batches(url), batches_before
    batches, chunks = batches - batches_then, chunks - chunks_then
    requests = PASSES * len(clips)
    for part in PARTS:
        into.cpu[part] = into.cpu.get(part, 0.0) + used[part] / requests
    into.batch_sizes.append(chunks / max(1.0, batches))
    into.rounds += 1
    return seen


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
    with _server(env) as (url, _), tempfile.TemporaryDirectory() as data:
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


def _cpu_table(gathered: dict[str, _Passes]) -> str:
    """CPU seconds per request of each part, per configuration (mean over rounds): on a
    CPU-bound machine, what Ray adds per request is what it takes from throughput."""
    rows = []
    for name, passes in gathered.items():
        used = [passes.cpu.get(part, 0.0) / max(1, passes.rounds) for part in PARTS]
        batch = statistics.mean(passes.batch_sizes) if passes.batch_sizes else 0.0
        rows.append([name, *used, sum(used), batch])
    return (
        "CPU seconds per request in the timed passes (user + system, every process of the "
        "server's tree; a local Ray's processes are its descendants), and the chunks an ASR "
        "batch held on average (``tympan_batch_size``):\n\n"
        + markdown_table(["configuration", *PARTS, "total", "chunks a batch"], rows)
    )


SAME_BATCH_REPEATS = 4
IDLE_SECONDS = 20.0


def _same_batch(clips: list[Path]) -> str:
    """One batch (8 clips) decoded by this process's model (2 threads) and by a 2-CPU
    replica of a local Ray, alternated, min of ``SAME_BATCH_REPEATS``: the decode's own wall
    and CPU time on each side, and the round trip around the replica's; then the CPU Ray's
    processes use with the application deployed and no request at all."""
    import asyncio

    from tympan.audio import decode_audio
    from tympan.config import Settings
    from tympan.models.registry import ModelRegistry
    from tympan.serving.ray import RayModels
    from tympan.tasks.asr.decoding import ChunkJob, DecodeOptions, decode_chunks

    def timed(handle: object, jobs: list[ChunkJob]) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        decode_chunks(handle, jobs)  # type: ignore[arg-type]
        return time.perf_counter() - wall, time.process_time() - cpu

    jobs = [ChunkJob(decode_audio(clip).samples, 0.0, DecodeOptions()) for clip in clips[:8]]
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(_env_file=None, data_dir=data, cpu_threads=2)  # type: ignore[call-arg]
        spec = ModelRegistry.from_settings(settings).get(MODEL)
        local = spec.load()
        remote = RayModels.connect(
            settings.model_copy(
                update={"ray_address": "local", "ray_num_cpus": 3, "ray_asr_replica_cpus": 2}
            )
        )
        try:
            here: list[tuple[float, float]] = []
            there: list[tuple[float, float, float]] = []

            async def over_ray() -> tuple[float, float, float]:
                started = time.perf_counter()
                wall, cpu = await remote.infer(spec, timed, jobs)
                return time.perf_counter() - started, wall, cpu

            timed(local, jobs), asyncio.run(over_ray())  # warm-up both (deploys the replica)
            for _ in range(SAME_BATCH_REPEATS):
                here.append(timed(local, jobs))
                there.append(asyncio.run(over_ray()))
            ray_processes = psutil.Process().children(recursive=True)
            before = sum(_cpu_of(process) for process in ray_processes)
            time.sleep(IDLE_SECONDS)
            idle = (sum(_cpu_of(process) for process in ray_processes) - before) / IDLE_SECONDS
        finally:
            remote.close()
    local_wall, local_cpu = min(here)
    trip, replica_wall, replica_cpu = min(there)
    rows = [
        ["this process (2 threads)", "", local_wall, local_cpu],
        ["replica (2 CPUs)", trip, replica_wall, replica_cpu],
    ]
    table = markdown_table(
        ["8 clips, one batch", "round trip s", "decode wall s", "decode CPU s"], rows
    )
    return (
        f"{table}\n\nThe hop (round trip minus the replica's decode): "
        f"**{1000 * (trip - replica_wall):.0f} ms** a batch. The replica's decode against this "
        f"process's: **{ratio(replica_wall, local_wall):.2f}x** the wall time for "
        f"**{ratio(replica_cpu, local_cpu):.2f}x** the CPU time. Idle, with the application "
        f"deployed, Ray's processes used **{100 * idle:.0f} %** of one core over "
        f"{IDLE_SECONDS:.0f} s."
    )


def _cpu_of(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.Error:
        return 0.0
    return times.user + times.system


def run() -> str:
    clips = _clips()
    gathered = {name: _Passes() for name, _ in CONFIGS}
    for _ in range(ROUNDS):  # alternated, so load on the shared machine hits each alike
        for name, env in CONFIGS:
            with _server({**RAY, **env} if name.startswith("Ray") else env) as server:
                seen = _measure_with_cpu(server, clips, gathered[name])
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
            "### Where the CPU goes\n\n" + _cpu_table(gathered),
            "### The same batch in this process and on a replica\n\n" + _same_batch(clips),
            "### Serving while training on Ray\n\n" + _while_training(clips),
            f"Machine: {machine_load()} after the run.",
        ]
    )
