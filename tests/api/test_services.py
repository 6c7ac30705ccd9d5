"""Crash recovery at start: kill -9 the real service mid-work, restart it, check every invariant.

Each round starts the service as its own process on loopback (a temp data dir, a 3 s job
lease), sends real work through the SDK at once (classifier training on real FSDD clips,
speaker enrollment and sample additions, incremental updates that publish versions, music
model training, promotions), kills the process with SIGKILL after a random delay, and
restarts it. After every restart the database and the artifact folders must agree.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import httpx
import numpy as np
from sqlalchemy import func, select

from tests.classifier_data import fsdd_subset
from tests.conftest import EVAL_DIR, TEST_MAX_AUDIO_SECONDS, read_manifest
from tympan.client import Client
from tympan.errors import TympanError
from tympan.store import ArtifactStore, Database, sha256_file
from tympan.store.artifacts import STAGING
from tympan.store.classifiers import HIDDEN, ClassifierVersionRow
from tympan.store.jobs import UNFINISHED, JobRow
from tympan.store.speakers import SpeakerRow, SpeakerSampleRow
from tympan.tasks.classifiers.dataset import zip_dataset
from tympan.tasks.classifiers.versions import version_key

REPO = Path(__file__).resolve().parents[2]
KILL_ROUNDS = 4
LEASE_SECONDS = 3.0
SPEECH = [EVAL_DIR / "speakers" / row["audio"] for row in read_manifest("speakers")[:4]]


def _digits(folder: Path) -> bytes:
    """A zipped FSDD subset: 2 digits x 2 speakers x 4 clips, the smallest real dataset."""
    return zip_dataset(fsdd_subset(folder, ("0", "1"), ("jackson", "theo"), 4))


@contextlib.contextmanager
def _service(data_dir: Path, log: IO[bytes]) -> Iterator[tuple[subprocess.Popen[bytes], Client]]:
    """The real service in its own process on a free loopback port (stderr to ``log``)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = {
        **os.environ,
        "PYTHONPATH": str(REPO / "src"),
        "TYMPAN_DATA_DIR": str(data_dir),
        "TYMPAN_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
        "TYMPAN_MAX_AUDIO_SECONDS": str(TEST_MAX_AUDIO_SECONDS),
        "TYMPAN_MUSIC_MODEL_SIZE": "tiny",
        "TYMPAN_MUSIC_CORPUS_LIMIT": "30",
        "TYMPAN_MUSIC_TRAIN_SECONDS": "2",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "tympan.api.app:create_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=environment, stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    client = Client(f"http://127.0.0.1:{port}", timeout=60)
    try:
        deadline = time.monotonic() + 240  # imports are slow on a loaded machine
        while True:
            assert process.poll() is None, "the service exited at start"
            assert time.monotonic() < deadline, "the service did not start"
            try:
                client.health()
                break
            except httpx.TransportError:
                time.sleep(0.2)
        yield process, client
    finally:
        process.kill()
        process.wait(30)
        client.close()


def _workload(client: Client, digits: bytes, rng: random.Random) -> list[Callable[[], object]]:
    """Requests that write: training, enrollment, samples, published updates, promotions."""
    clip = SPEECH[0]
    names = [c["name"] for c in client.classifiers()]
    speakers = client.speakers()
    work: list[Callable[[], object]] = [
        lambda: client.train_classifier("digits", digits, arch="cnn", max_epochs=2),
        lambda: client.enroll_speaker(f"voice-{rng.random():.6f}", SPEECH[1:3]),
        lambda: client.music_train("folk-markov", wait=False),
    ]
    if speakers:
        work.append(lambda: client.add_speaker_samples(speakers[0].id, [clip, SPEECH[3]]))
    if names:
        versions = client.classifier_versions("digits")
        work.append(lambda: client.add_examples("digits", "speech", [clip]))
        work.append(lambda: client.add_examples("digits", "1", [SPEECH[2]]))
        work.append(lambda: client.promote_classifier("digits", rng.choice(versions)["version"]))
    return work


def _fire(work: list[Callable[[], object]], errors: list[TympanError]) -> None:
    """Send every request at once, each from its own thread; refusals go to ``errors``."""

    def run(call: Callable[[], object]) -> None:
        try:
            call()
        except httpx.HTTPError:
            pass  # cut off by the kill
        except TympanError as exc:
            errors.append(exc)

    for call in work:
        threading.Thread(target=run, args=(call,), daemon=True).start()


def _check_consistent(data_dir: Path, client: Client) -> dict[str, int]:
    """Every invariant the recovery promises; returns what it found, for the log."""
    db = Database(f"sqlite:///{(data_dir / 'tympan.db').resolve()}")
    artifacts = ArtifactStore(data_dir / "artifacts")
    try:
        with db.session() as session:
            versions = session.scalars(select(ClassifierVersionRow)).all()
            unfinished = session.scalar(
                select(func.count(JobRow.id)).where(JobRow.status.in_(UNFINISHED))
            )
            speakers = session.scalars(select(SpeakerRow)).all()
            samples = dict(
                session.execute(
                    select(SpeakerSampleRow.speaker_id, func.count(SpeakerSampleRow.id)).group_by(
                        SpeakerSampleRow.speaker_id
                    )
                ).all()
            )
            sums = {
                speaker.id: np.sum(
                    [np.frombuffer(s.embedding, np.float32) for s in speaker.samples], axis=0
                )
                for speaker in speakers
            }
    finally:
        db.close()
    # No job of the killed process is left queued or running: its lease lapsed, start failed it.
    assert unfinished == 0
    # No reservation of the killed publisher survives the start; every version has its
    # complete folder (every file it lists, with the checksum it lists), and no other folder
    # is under classifiers/ or waits in the staging area.
    assert [v for v in versions if v.stage in HIDDEN and v.stage != "abandoned"] == []
    visible = {(v.name, v.version): v for v in versions if v.stage not in HIDDEN}
    for (name, number), version in visible.items():
        folder = artifacts.path(version_key(name, number))
        assert sorted(p.name for p in folder.iterdir()) == sorted(version.artifacts)
        for file, checksum in version.artifacts.items():
            assert sha256_file(folder / file) == checksum, f"{name}:{number}/{file}"
    on_disk = {
        (folder.parent.name, int(folder.name))
        for folder in artifacts.path("classifiers").glob("*/*")
    }
    assert on_disk == set(visible)
    assert not list(artifacts.path(STAGING).rglob("*.*"))
    # Speakers: the running sum and the count match the sample rows exactly.
    for speaker in speakers:
        assert speaker.num_samples == samples.get(speaker.id, 0)
        total = np.frombuffer(speaker.embedding_sum, np.float32)
        np.testing.assert_allclose(total, sums[speaker.id], rtol=1e-4, atol=1e-5)
    # Work folders: only the live service's own.
    assert len([p for p in (data_dir / "work").iterdir() if p.is_dir()]) <= 1
    # Music: a model folder is whole, and the set-aside or staged copies are gone.
    music = data_dir / "models" / "music"
    for folder in music.glob("folk-*"):
        assert sorted(p.name for p in folder.iterdir()) == ["counts.json", "model.json"]
    assert [*music.glob(".old-*"), *music.glob(".tmp-*")] == []
    # And the service answers: every served version predicts.
    for summary in client.classifiers():
        assert client.predict(summary["name"], SPEECH[0]).top
    return {"versions": len(visible), "speakers": len(speakers)}


def test_kill_9_at_random_points_leaves_a_consistent_service(tmp_path: Path) -> None:
    rng = random.Random(14)
    data_dir = tmp_path / "data"
    digits = _digits(tmp_path / "digits")
    found: list[dict[str, int]] = []
    errors: list[TympanError] = []
    log = (tmp_path / "service.log").open("wb")
    for round_number in itertools.count():
        with _service(data_dir, log) as (process, client):
            found.append(_check_consistent(data_dir, client))
            if round_number == KILL_ROUNDS:
                # After every crash a publish still works, numbered past every number used,
                # and enrollment still works.
                client.enroll_speaker("after-the-crashes", SPEECH[1:3])
                updated = client.add_examples("digits", "speech", [SPEECH[0]])
                with Database(f"sqlite:///{data_dir / 'tympan.db'}").session() as session:
                    used = session.scalars(select(ClassifierVersionRow.version)).all()
                assert updated.version == max(used)
                found.append(_check_consistent(data_dir, client))
                break
            if round_number == 0:  # one version to update, promote and serve in later rounds
                job = client.train_classifier("digits", digits, arch="cnn", max_epochs=2)
                assert client.wait_job(job["id"], poll=0.2)["status"] == "succeeded"
            _fire(_workload(client, digits, rng), errors)
            time.sleep(rng.uniform(2.0, 12.0))
            os.kill(process.pid, signal.SIGKILL)
            process.wait(30)
        time.sleep(LEASE_SECONDS)  # a restart sooner would find the dead leases unexpired
    # Work was published and enrolled, and no request met a bug: refusals are 4xx (a name
    # taken by a racing enrollment) or 503 (busy, interrupted).
    assert found[-1]["versions"] >= 2 and found[-1]["speakers"] >= 1, found
    log.close()
    tracebacks = (tmp_path / "service.log").read_text(errors="replace").split("Traceback")[1:]
    assert [e for e in errors if e.status == 500] == [], tracebacks
