"""The classifier registry: numbers decided by the database, atomic publishing, stages, races."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.store.conftest import url_of
from tests.store.racing import race
from tympan.errors import Conflict
from tympan.store import ArtifactStore, Database, sha256_file
from tympan.store.classifiers import ClassifierRow, ClassifierStore, ClassifierVersionRow
from tympan.tasks.classifiers.versions import publish_version, remove_orphans, version_key

FIELDS = {"arch": "mel", "labels": ["a", "b"], "metrics": {}, "config": {},
          "dataset_fingerprint": "f" * 64}  # fmt: skip


def _folder(tmp_path: Path, content: bytes = b"weights") -> Path:
    folder = tmp_path / "work" / content.hex()[:12]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.onnx").write_bytes(content)
    return folder


def _publish(store: ClassifierStore, artifacts: ArtifactStore, folder: Path, finish=None):  # type: ignore[no-untyped-def]
    def write_ref(ref: str) -> None:
        (folder / "report.json").write_text(json.dumps({"ref": ref}))

    return publish_version(store, artifacts, "clf", folder, finish or write_ref, FIELDS)


def test_publish_moves_a_complete_folder_in_with_its_row(db: Database, tmp_path: Path) -> None:
    store, artifacts = ClassifierStore(db), ArtifactStore(tmp_path / "artifacts")
    first = _publish(store, artifacts, _folder(tmp_path, b"one"))
    second = _publish(store, artifacts, _folder(tmp_path, b"two"))
    assert (first.version, second.version, second.stage) == (1, 2, "staging")
    folder = artifacts.path(version_key("clf", 2))
    assert json.loads((folder / "report.json").read_text())["ref"] == "clf:2"
    assert second.artifacts == {name: sha256_file(folder / name) for name in second.artifacts}
    assert not list((tmp_path / "work").iterdir())  # work folders consumed
    assert not list(artifacts.staging_path("classifiers").rglob("*.onnx"))


def test_a_failed_publish_leaves_no_row_no_folder_and_frees_the_number(
    db: Database, tmp_path: Path
) -> None:
    store, artifacts = ClassifierStore(db), ArtifactStore(tmp_path / "artifacts")

    def broken(ref: str) -> None:
        raise RuntimeError("disk full while writing the report")

    with pytest.raises(RuntimeError):
        _publish(store, artifacts, _folder(tmp_path), broken)
    with db.session() as session:
        assert session.scalars(select(ClassifierVersionRow)).all() == []
    assert not artifacts.exists(version_key("clf", 1))
    assert _publish(store, artifacts, _folder(tmp_path)).version == 1


def test_a_dead_publisher_is_reaped_and_its_number_never_reused(
    db: Database, tmp_path: Path
) -> None:
    """A crash after the rename but before the row was completed, then a restart."""
    store, artifacts = ClassifierStore(db), ArtifactStore(tmp_path / "artifacts")
    _publish(store, artifacts, _folder(tmp_path))
    dead = store.reserve_version("clf")  # the publisher dies holding number 2 ...
    half = artifacts.path(version_key("clf", dead))
    half.mkdir(parents=True)
    (half / "model.onnx").write_bytes(b"half")  # ... with a folder in place
    stray = artifacts.path("classifiers/clf/9")  # and an older release's leftover
    stray.mkdir()
    remove_orphans(store, artifacts, lease_seconds=60)
    assert half.exists()  # within its lease the publisher may be alive: kept
    assert not stray.exists()
    assert [v.version for v in store.versions("clf")] == [1]  # never served meanwhile
    remove_orphans(store, artifacts, lease_seconds=0)
    assert not half.exists()
    with pytest.raises(Conflict, match="TYMPAN_JOB_LEASE_SECONDS"):
        store.renew_reservation("clf", dead)  # a publisher that was only slow finds out
    assert _publish(store, artifacts, _folder(tmp_path)).version == dead + 1
    assert artifacts.path(version_key("clf", 1)).is_dir()


def test_promote_and_rollback(db: Database, tmp_path: Path) -> None:
    store, artifacts = ClassifierStore(db), ArtifactStore(tmp_path / "artifacts")
    for content in (b"1", b"2", b"3"):
        _publish(store, artifacts, _folder(tmp_path, content))
    store.promote("clf", 1, "production")
    store.promote("clf", 3, "production")
    assert [v.stage for v in store.versions("clf")] == ["archived", "staging", "production"]
    assert store.rollback("clf").version == 1
    assert [v.stage for v in store.versions("clf")] == ["production", "staging", "archived"]
    with pytest.raises(Conflict):
        store.rollback("clf")


def test_two_processes_publish_and_promote_without_colliding(
    any_db: Database, tmp_path: Path
) -> None:
    """Two real processes publish and promote versions of one classifier at the same time."""
    rounds, db = 12, any_db
    race("versions", url_of(db), tmp_path, ["p1", "p2"], rounds)
    store, artifacts = ClassifierStore(db), ArtifactStore(tmp_path / "artifacts")
    versions = store.versions("race")
    assert [v.version for v in versions] == list(range(1, 2 * rounds + 1))
    for version in versions:
        folder = artifacts.path(version_key("race", version.version))
        assert (folder / "report.json").read_text() == version.ref  # its own report
        tag = version.metrics["by"]
        assert (folder / "model.onnx").read_bytes() == tag.encode() * 1000
        assert version.artifacts["model.onnx"] == sha256_file(folder / "model.onnx")
    assert sorted(v.metrics["by"] for v in versions) == ["p1"] * rounds + ["p2"] * rounds
    production = [v for v in versions if v.stage == "production"]
    with db.session() as session:
        history = session.get(ClassifierRow, "race").production_history
    # One version in production, the last one recorded; a promotion of the version already
    # in production records nothing, so no entry repeats the one before it.
    assert len(production) == 1 and history[-1] == production[0].version
    assert all(a != b for a, b in itertools.pairwise(history))
    assert set(range(1, 2 * rounds + 1)) - set(history) == set()
