"""A second (and third) process for race tests: ``python -m tests.store.racer MODE ...``.

Each racer opens the shared database and artifact folder, waits for a start file so the
racers overlap, then repeats one read-modify-write many times:
``versions``  publish a classifier version (reserve, stage files, rename, complete) and promote
              it, then promote older versions many times;
``samples``   add one sample embedding to a speaker.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from tympan.store import ArtifactStore, Database
from tympan.store.classifiers import ClassifierStore
from tympan.store.speakers import SpeakerStore
from tympan.tasks.classifiers.versions import publish_version
from tympan.tasks.speakers import SampleEmbedding


def _publish(db: Database, artifacts: ArtifactStore, work: Path, tag: str) -> None:
    store = ClassifierStore(db)
    folder = work / f"{tag}-{time.monotonic_ns()}"
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(tag.encode() * 1000)

    def finish(ref: str) -> None:
        (folder / "report.json").write_text(ref)

    fields = {"arch": "mel", "labels": ["a", "b"], "metrics": {"by": tag}, "config": {},
              "dataset_fingerprint": "f" * 64}  # fmt: skip
    version = publish_version(store, artifacts, "race", folder, finish, fields)
    store.promote("race", version.version, "production")


def _add_sample(db: Database, speaker_id: str, value: float) -> None:
    embedding = np.full(4, value, np.float32)
    SpeakerStore(db).add_samples(speaker_id, [SampleEmbedding(embedding, 1.0, None)])


def main(mode: str, url: str, root: Path, start: Path, rounds: int, tag: str) -> None:
    db = Database(url)
    artifacts = ArtifactStore(root / "artifacts")
    (start.parent / f"ready-{os.getpid()}").touch()
    deadline = time.monotonic() + 120
    while not start.exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    for index in range(rounds):
        if mode == "versions":
            _publish(db, artifacts, root / "work", tag)
        else:
            _add_sample(db, tag, float(index + 1))
    if mode == "versions":  # then move production around while the other racer does too
        store = ClassifierStore(db)
        for index in range(4 * rounds):
            versions = store.versions("race")
            chosen = versions[(index * 7 + 3 * int(tag[-1])) % len(versions)]
            store.promote("race", chosen.version, "production")
    db.close()


if __name__ == "__main__":
    mode, url, root, start, rounds, tag = sys.argv[1:7]
    main(mode, url, Path(root), Path(start), int(rounds), tag)
