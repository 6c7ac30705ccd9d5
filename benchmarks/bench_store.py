"""Crash safety and cross-process locking: what they cost against the unsafe way, same run.

- publishing a classifier version (database-numbered reservation, staged files flushed to disk,
  rename in the completing transaction) against moving the same files into place and inserting
  the row, as the per-process-lock code did;
- ``add_samples`` in a write transaction (``BEGIN IMMEDIATE`` / ``FOR UPDATE``) against the same
  read-modify-write in a plain session (which loses updates under concurrency);
- one job-lease heartbeat (renew + recover) as a share of its period at the default lease.

Interleaved, min and median over repeats, on SQLite in a temp folder.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._harness import markdown_table, ratio
from tympan.config import Settings
from tympan.store import ArtifactStore, Database
from tympan.store.classifiers import ClassifierVersionRow
from tympan.store.jobs import JobRunner
from tympan.store.speakers import SpeakerRow, SpeakerSampleRow, SpeakerStore
from tympan.tasks.classifiers.versions import publish_version
from tympan.tasks.speakers import SampleEmbedding, l2_normalise

REPEATS = 30
FILES = {"model.onnx": 4_000_000, "network.pt": 4_000_000, "embeddings.npz": 500_000,
         "meta.json": 2_000, "report.json": 20_000, "confusion.png": 60_000}  # fmt: skip
FIELDS = {"arch": "cnn", "labels": ["a", "b"], "metrics": {}, "config": {},
          "dataset_fingerprint": "f" * 64}  # fmt: skip


def _work_folder(root: Path) -> Path:
    folder = Path(tempfile.mkdtemp(dir=root))
    for name, size in FILES.items():
        (folder / name).write_bytes(np.random.default_rng(size).bytes(size))
    return folder


def _publish_atomic(db: Database, artifacts: ArtifactStore, root: Path) -> float:
    from tympan.store.classifiers import ClassifierStore

    folder = _work_folder(root)
    started = time.perf_counter()
    publish_version(ClassifierStore(db), artifacts, "atomic", folder, lambda ref: None, FIELDS)
    return time.perf_counter() - started


def _publish_in_place(db: Database, artifacts: ArtifactStore, root: Path, number: int) -> float:
    folder = _work_folder(root)
    started = time.perf_counter()
    checksums = {
        item.name: artifacts.import_file(f"classifiers/in-place/{number}/{item.name}", item)
        for item in sorted(folder.iterdir())
    }
    with db.session() as session:
        session.add(ClassifierVersionRow(name="in-place", version=number, stage="staging",
                                         artifacts=checksums, **FIELDS))  # fmt: skip
    shutil.rmtree(folder)
    return time.perf_counter() - started


def _add_sample_unlocked(db: Database, speaker_id: str, sample: SampleEmbedding) -> float:
    started = time.perf_counter()
    with db.session() as session:
        row = session.get(SpeakerRow, speaker_id)
        total = np.frombuffer(row.embedding_sum, np.float32) + sample.embedding
        row.embedding_sum = total.tobytes()
        row.voiceprint = l2_normalise(total).tobytes()
        row.num_samples += 1
        embedding = sample.embedding.tobytes()
        row.samples.append(SpeakerSampleRow(embedding=embedding, duration=1.0, filename=None))
    return time.perf_counter() - started


def _add_sample_locked(store: SpeakerStore, speaker_id: str, sample: SampleEmbedding) -> float:
    started = time.perf_counter()
    store.add_samples(speaker_id, [sample])
    return time.perf_counter() - started


def _row(label: str, safe: list[float], unsafe: list[float]) -> list[object]:
    return [label, min(safe) * 1e3, min(unsafe) * 1e3, ratio(min(safe), min(unsafe)),
            ratio(statistics.median(safe), statistics.median(unsafe))]  # fmt: skip


def run() -> str:
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        db = Database(f"sqlite:///{root / 'db.sqlite'}")
        db.upgrade()
        artifacts = ArtifactStore(root / "artifacts")
        store = SpeakerStore(db)
        sample = SampleEmbedding(l2_normalise(np.ones(256, np.float32)), 1.0, None)
        speaker = store.create("bench", "m", [sample])
        timings: dict[str, list[float]] = {key: [] for key in ("atomic", "in_place", "locked",
                                                                "unlocked")}  # fmt: skip
        for number in range(1, REPEATS + 1):  # interleaved, so load changes hit both sides
            timings["atomic"].append(_publish_atomic(db, artifacts, root))
            timings["in_place"].append(_publish_in_place(db, artifacts, root, number))
            timings["locked"].append(_add_sample_locked(store, speaker.id, sample))
            timings["unlocked"].append(_add_sample_unlocked(db, speaker.id, sample))
        lease = Settings.model_fields["job_lease_seconds"].default
        runner = JobRunner(db, root / "work", lease)
        beats = []
        for _ in range(REPEATS):
            started = time.perf_counter()
            runner.renew()
            runner.recover()
            beats.append(time.perf_counter() - started)
        runner.close()
        db.close()
    table = markdown_table(
        ["operation", "safe min (ms)", "unsafe min (ms)", "ratio (min)", "ratio (median)"],
        [
            _row("publish a version (11 MB, 6 files)", timings["atomic"], timings["in_place"]),
            _row("add_samples (1 sample)", timings["locked"], timings["unlocked"]),
        ],
    )
    period = lease / 3
    heartbeat = (
        f"One lease heartbeat (renew + recover) took {min(beats) * 1e3:.2f} ms min, "
        f"{statistics.median(beats) * 1e3:.2f} ms median: "
        f"{statistics.median(beats) / period:.5%} of its {period:.0f} s period."
    )
    return (
        "# Store: crash safety and locking\n\n"
        f"{REPEATS} interleaved repeats on SQLite (WAL) in a temp folder. 'Safe' is what Tympan "
        "does; 'unsafe' is the old way (files moved in place + plain insert; read-modify-write "
        "without a write lock), which a crash or a second process can corrupt.\n\n"
        f"{table}\n\n{heartbeat}\n"
    )
