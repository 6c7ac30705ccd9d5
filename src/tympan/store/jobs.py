"""Background jobs (training, long renders): persisted status and progress, one worker pool.

A job is a row the API can poll (``GET /v1/jobs/{id}``) while a worker thread runs the work
and reports progress through a callback. Each row names the process that owns it; when a
service starts, unfinished jobs whose owner process on this host is gone were interrupted by a
restart and are marked failed, so no client waits on them forever. Jobs of live processes
(another service or CLI on the same data dir) are left alone.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import psutil
from sqlalchemy import JSON, DateTime, Float, String, Text, select, update
from sqlalchemy.orm import Mapped, mapped_column

from tympan.errors import ResourceNotFound, TympanError
from tympan.store.db import Base, Database

__all__ = ["Job", "JobRunner", "JobStatus", "Progress"]

log = logging.getLogger(__name__)

JobStatus = Literal["queued", "running", "succeeded", "failed"]
Progress = Callable[[float, str], None]
"""``progress(fraction, message)``: what a job's work calls to report how far it is."""


def _now() -> datetime:
    return datetime.now(UTC)


def _this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_is_gone(owner: str) -> bool:
    host, _, pid = owner.rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and not psutil.pid_exists(int(pid))


class JobRow(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    owner: Mapped[str] = mapped_column(String(300), default="")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(Text, default="")
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


@dataclass(frozen=True, slots=True)
class Job:
    """A job as clients see it."""

    id: str
    kind: str
    status: JobStatus
    progress: float
    message: str
    params: dict[str, Any]
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: JobRow) -> Job:
        return cls(
            row.id,
            row.kind,
            row.status,
            row.progress,
            row.message,
            row.params or {},  # type: ignore[arg-type]
            row.result,
            row.error,
            row.created_at,
            row.updated_at,
        )


class JobRunner:
    """Runs job functions in a small worker pool and records their life in the database."""

    def __init__(self, db: Database, workers: int = 1) -> None:
        self.db = db
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tympan-job")
        self._futures: dict[str, Future[None]] = {}
        self._lock = threading.Lock()
        self._fail_interrupted()

    def _fail_interrupted(self) -> None:
        with self.db.session() as session:
            unfinished = session.execute(
                select(JobRow.id, JobRow.owner).where(JobRow.status.in_(["queued", "running"]))
            ).all()
            orphans = [job_id for job_id, owner in unfinished if _owner_is_gone(owner)]
            if not orphans:
                return
            session.execute(
                update(JobRow)
                .where(JobRow.id.in_(orphans))
                .values(
                    status="failed",
                    error={
                        "message": "interrupted by a service restart; submit it again",
                        "code": "interrupted",
                        "status": 503,
                    },
                    updated_at=_now(),
                )
            )

    def submit(
        self,
        kind: str,
        work: Callable[[Progress], dict[str, Any]],
        params: dict[str, Any] | None = None,
    ) -> Job:
        """Queue ``work(progress)``; its returned dict becomes the job's result."""
        job_id = f"job_{uuid.uuid4().hex[:24]}"
        with self.db.session() as session:
            session.add(JobRow(id=job_id, kind=kind, owner=_this_process(), params=params or {}))
        future = self._pool.submit(self._run, job_id, work)
        with self._lock:
            self._futures[job_id] = future
        return self.get(job_id)

    def _run(self, job_id: str, work: Callable[[Progress], dict[str, Any]]) -> None:
        last_write = 0.0

        def progress(fraction: float, message: str) -> None:
            nonlocal last_write
            now = time.monotonic()
            if now - last_write >= 0.2 or fraction >= 1.0:  # throttle database writes
                last_write = now
                self._update(job_id, progress=max(0.0, min(1.0, fraction)), message=message)

        self._update(job_id, status="running")
        try:
            result = work(progress)
        except TympanError as exc:
            self._update(
                job_id, status="failed", error={**exc.to_body()["error"], "status": exc.status}
            )
        except Exception as exc:
            log.exception("job %s failed", job_id)
            self._update(
                job_id,
                status="failed",
                error={
                    "message": f"{type(exc).__name__}: {exc}",
                    "code": "internal_error",
                    "status": 500,
                },
            )
        else:
            self._update(job_id, status="succeeded", progress=1.0, result=result)
        finally:
            with self._lock:
                self._futures.pop(job_id, None)

    def _update(self, job_id: str, **values: Any) -> None:
        with self.db.session() as session:
            session.execute(
                update(JobRow).where(JobRow.id == job_id).values(updated_at=_now(), **values)
            )

    def get(self, job_id: str) -> Job:
        """The job's current state; ``ResourceNotFound`` (404) if unknown."""
        with self.db.session() as session:
            row = session.scalar(select(JobRow).where(JobRow.id == job_id))
            if row is None:
                raise ResourceNotFound(f"No job {job_id!r}.", param="job_id")
            return Job.from_row(row)

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job ends (in-process callers and tests); returns its final state."""
        with self._lock:
            future = self._futures.get(job_id)
        if future is not None:
            future.result(timeout=timeout)
        return self.get(job_id)

    def close(self) -> None:
        """Wait for running jobs and stop the pool."""
        self._pool.shutdown(wait=True, cancel_futures=True)
