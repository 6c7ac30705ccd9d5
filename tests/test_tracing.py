"""The current request id: bound for a block, carried by the job store into the jobs it starts."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tympan.store import Database
from tympan.store.jobs import JobRunner
from tympan.tracing import bound_request_id, current_request_id


def test_an_id_is_bound_only_inside_its_block() -> None:
    assert current_request_id() is None
    with bound_request_id("outer"):
        with bound_request_id("inner"):
            assert current_request_id() == "inner"
        assert current_request_id() == "outer"
    assert current_request_id() is None


def test_a_job_started_in_a_request_keeps_its_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    database.upgrade()
    runner = JobRunner(database, tmp_path / "work")
    try:
        with caplog.at_level(logging.INFO, logger="tympan.store.jobs"), bound_request_id("req-7"):
            traced = runner.submit("demo", lambda progress: {"ok": True}, {"x": 1})
        untraced = runner.submit("demo", lambda progress: {"ok": True}, {"x": 1})
        assert runner.wait(traced.id, timeout=10).params == {"x": 1, "request_id": "req-7"}
        assert runner.wait(untraced.id, timeout=10).params == {"x": 1}
        assert f"job {traced.id} (demo) submitted, request_id=req-7" in caplog.text
    finally:
        runner.close()
        database.close()
