"""The database, artifacts and jobs: atomic, traversal-safe, restart-aware."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from tympan.errors import InvalidDataset, InvalidParameter, ResourceNotFound
from tympan.store import ArtifactStore, Database
from tympan.store.jobs import JobRunner


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


def test_job_success_reports_progress_and_result(db) -> None:
    runner = JobRunner(db)
    seen = threading.Event()

    def work(progress) -> dict:
        progress(0.5, "halfway")
        seen.set()
        return {"answer": 42}

    job = runner.submit("demo", work, {"x": 1})
    assert job.params == {"x": 1} and job.kind == "demo"
    final = runner.wait(job.id, timeout=10)
    assert seen.is_set()
    assert (final.status, final.progress, final.result) == ("succeeded", 1.0, {"answer": 42})
    runner.close()


def test_job_failures_are_recorded(db) -> None:
    runner = JobRunner(db)

    def bad_data(progress) -> dict:
        raise InvalidDataset("only one class")

    def bug(progress) -> dict:
        raise RuntimeError("boom")

    first = runner.wait(runner.submit("demo", bad_data).id, timeout=10)
    assert first.status == "failed" and first.error["code"] == "invalid_dataset"
    assert first.error["status"] == 400
    second = runner.wait(runner.submit("demo", bug).id, timeout=10)
    assert second.status == "failed" and second.error["code"] == "internal_error"
    assert second.error["status"] == 500
    with pytest.raises(ResourceNotFound):
        runner.get("job_nope")
    runner.close()


def test_jobs_of_a_dead_process_are_failed_at_start(db) -> None:
    from sqlalchemy import update

    from tympan.store.jobs import JobRow

    runner = JobRunner(db)
    release = threading.Event()
    job = runner.submit("demo", lambda progress: release.wait(5) and {})
    deadline = time.monotonic() + 10
    while runner.get(job.id).status != "running" and time.monotonic() < deadline:
        time.sleep(0.01)
    # Another runner on the same database while this process lives leaves the job alone.
    assert JobRunner(db).get(job.id).status == "running"
    # A pid that cannot exist stands for the owner that died with a restart.
    with db.session() as session:
        owner = f"{socket.gethostname()}:{2**22 + 12345}"
        session.execute(update(JobRow).where(JobRow.id == job.id).values(owner=owner))
    restarted = JobRunner(db)
    assert restarted.get(job.id).status == "failed"
    assert restarted.get(job.id).error["code"] == "interrupted"
    release.set()
    runner.close()
    restarted.close()


def test_columns_added_since_a_table_was_made_are_added_at_start(db) -> None:
    """A database from before namespaces gains the columns, old rows the default."""
    with db.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO classifiers (name, production_history, created_at) "
            "VALUES ('old', '[]', '2026-01-01')"
        )
        connection.exec_driver_sql("ALTER TABLE classifiers DROP COLUMN namespace")
    db.create_all()
    with db.engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT name, namespace FROM classifiers").all()
    assert [tuple(row) for row in rows] == [("old", "default")]
    db.create_all()  # idempotent
