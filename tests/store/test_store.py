"""The database, artifacts and jobs: atomic, traversal-safe, restart-aware."""

from __future__ import annotations

import pytest

from tympan.errors import InvalidParameter
from tympan.store import ArtifactStore, Database


@pytest.fixture
def db(tmp_path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    database.create_all()
    return database


def test_sqlite_runs_in_wal_mode(db) -> None:
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_artifacts_are_atomic_and_stay_inside(tmp_path) -> None:
    store = ArtifactStore(tmp_path / "artifacts")
    checksum = store.write_bytes("models/a/model.onnx", b"weights")
    assert store.read_bytes("models/a/model.onnx") == b"weights" and len(checksum) == 64
    for key in ("../evil", "models/../../evil", "/etc/passwd"):
        with pytest.raises(InvalidParameter):
            store.write_bytes(key, b"x")
    assert not (tmp_path / "evil").exists()
    store.delete("models")
    assert not store.exists("models/a/model.onnx")
    assert [p.name for p in store.root.rglob(".tmp-*")] == []
