"""Jobs: progress and results, heartbeat leases, recovery after a killed process, work folders."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tympan.errors import InvalidDataset, ResourceNotFound
from tympan.store import Database
from tympan.store.jobs import JobRunner


def _wait_for(condition, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def test_job_success_reports_progress_and_result(db: Database, tmp_path: Path) -> None:
    runner = JobRunner(db, tmp_path / "work")
    seen = threading.Event()

    def work(progress) -> dict:  # type: ignore[no-untyped-def]
        progress(0.5, "halfway")
        seen.set()
        return {"answer": 42}

    job = runner.submit("demo", work, {"x": 1})
    assert job.params == {"x": 1} and job.kind == "demo"
    final = runner.wait(job.id, timeout=10)
    assert seen.is_set()
    assert (final.status, final.progress, final.result) == ("succeeded", 1.0, {"answer": 42})
    runner.close()


def test_job_failures_are_recorded(db: Database, tmp_path: Path) -> None:
    runner = JobRunner(db, tmp_path / "work")

    def bad_data(progress) -> dict:  # type: ignore[no-untyped-def]
        raise InvalidDataset("only one class")

    def bug(progress) -> dict:  # type: ignore[no-untyped-def]
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


def test_a_live_runner_keeps_its_jobs_past_many_lease_lengths(db: Database, tmp_path: Path) -> None:
    runner = JobRunner(db, tmp_path / "work", lease_seconds=0.3)
    release = threading.Event()
    job = runner.submit("demo", lambda progress: release.wait(10) and {})
    _wait_for(lambda: runner.get(job.id).status == "running")
    other = JobRunner(db, tmp_path / "work", lease_seconds=0.3)  # a second process
    for _ in range(6):  # 1.2 s = 4 leases: the heartbeat renews, nobody fails the job
        time.sleep(0.2)
        assert other.recover() == []
    assert runner.get(job.id).status == "running"
    release.set()
    assert runner.wait(job.id, timeout=10).status == "succeeded"
    runner.close()
    other.close()


def test_a_stalled_runner_loses_its_job_and_a_late_finish_keeps_it_failed(
    db: Database, tmp_path: Path
) -> None:
    runner = JobRunner(db, tmp_path / "work", lease_seconds=0.3)
    release = threading.Event()
    job = runner.submit("demo", lambda progress: release.wait(10) and {"late": True})
    _wait_for(lambda: runner.get(job.id).status == "running")
    runner._stopped.set()  # the heartbeat stops, as if the process hung
    runner._heartbeat.join()
    time.sleep(0.4)
    other = JobRunner(db, tmp_path / "work", lease_seconds=0.3)
    failed = other.get(job.id)
    assert failed.status == "failed" and failed.error["code"] == "interrupted"
    assert "submit it again" in failed.error["message"]
    release.set()
    assert runner.wait(job.id, timeout=10).status == "failed"  # the late result is dropped
    runner.close()
    other.close()


_KILLED_RUNNER = textwrap.dedent(
    """
    import sys, threading
    from pathlib import Path
    from tympan.store import Database
    from tympan.store.jobs import JobRunner

    db = Database(sys.argv[1])
    db.upgrade()
    runner = JobRunner(db, Path(sys.argv[2]), lease_seconds=float(sys.argv[3]))
    folder = runner.new_work_folder()
    (folder / "upload.zip").write_bytes(b"partial upload")
    job = runner.submit("demo", lambda progress: threading.Event().wait(600) and {})
    print(job.id, folder, flush=True)
    threading.Event().wait(600)
    """
)


def test_jobs_of_a_killed_process_fail_and_its_work_folder_goes(
    db: Database, tmp_path: Path
) -> None:
    """A real process is killed with SIGKILL mid-job; whatever its PID, the lease decides."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    process = subprocess.Popen(
        [sys.executable, "-c", _KILLED_RUNNER, url, str(tmp_path / "work"), "2.0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        job_id, folder = process.stdout.readline().split()  # type: ignore[union-attr]
        survivor = JobRunner(db, tmp_path / "work", lease_seconds=2.0)
        assert survivor.recover() == []  # alive: its heartbeat renews the lease
        assert survivor.get(job_id).status in ("queued", "running")
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        # The survivor's heartbeat fails it within about a lease (or a start would).
        _wait_for(lambda: survivor.get(job_id).status == "failed", timeout=15)
        _wait_for(lambda: not Path(folder).parent.exists(), timeout=15)  # its work folder too
        survivor.close()
    finally:
        process.kill()
        process.wait(10)


def test_a_job_work_folder_is_removed_when_it_ends(db: Database, tmp_path: Path) -> None:
    runner = JobRunner(db, tmp_path / "work")
    folder = runner.new_work_folder()
    (folder / "data.bin").write_bytes(b"x")
    runner.wait(runner.submit("demo", lambda progress: {}, work_folder=folder).id, timeout=10)
    assert not folder.exists()
    legacy = tmp_path / "work" / "classifiers"  # an older release's layout, no lease file
    legacy.mkdir()
    os.utime(legacy, (0, 0))
    runner.recover()
    assert not legacy.exists()
    runner.close()
    assert not (tmp_path / "work" / runner.id).exists()
