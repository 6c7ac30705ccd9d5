"""Background jobs (training, long renders): persisted status and progress, one worker pool.

A job is a row the API can poll (``GET /v1/jobs/{id}``) while a worker thread runs the work
and reports progress through a callback. Each unfinished row carries a lease
(``lease_expires_at``) that the process running it renews every third of
``TYMPAN_JOB_LEASE_SECONDS``. Any process on the database (at start and at every renewal) fails
the jobs whose lease lapsed: their process was killed, whatever its PID or host, so no client
waits on them forever. Training is not resumed from a checkpoint; the error says to submit the
job again. A job whose lease lapsed while its process was merely stalled keeps the ``failed``
state: a late finish does not overwrite it.

Each runner also owns a work folder (``<work_root>/<runner id>/``) for uploads and outputs,
kept alive by touching its ``.lease`` file on the same schedule; folders of runners that
stopped renewing (killed processes) are removed, and a job's own folder goes when it ends.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from sqlalchemy import JSON, DateTime, Float, String, Text, Update, func, or_, select, update
from sqlalchemy.orm import Mapped, mapped_column

from tympan.errors import ResourceNotFound, TympanError
from tympan.store.db import Base, Database, utc_now
from tympan.tracing import current_request_id

__all__ = [
    "UNFINISHED",
    "Job",
    "JobRunner",
    "JobStatus",
    "Progress",
    "RemoteTasks",
    "sticky_check",
]

log = logging.getLogger(__name__)

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
UNFINISHED = ("queued", "running")
Progress = Callable[[float, str], None]
"""``progress(fraction, message)``: what a job's work calls to report how far it is."""
_LEASE_FILE = ".lease"
T = TypeVar("T")


def sticky_check(check: Callable[[], bool], every: float) -> Callable[[], bool]:
    """A ``should_stop`` for long work: asks ``check`` (a database read, an actor call) at
    most once per ``every`` seconds, and stays true once it was."""
    last, stopped = 0.0, False

    def should_stop() -> bool:
        nonlocal last, stopped
        now = time.monotonic()
        if not stopped and now - last >= every:
            last, stopped = now, check()
        return stopped

    return should_stop


class RemoteTasks(Protocol):
    """Runs a job's heavy function in another process (a Ray task, ``serving/ray_tasks.py``)
    while the job's thread here waits, relaying its progress to the job's callback."""

    def run(
        self,
        fn: Callable[..., T],
        /,
        *args: Any,
        num_cpus: int,
        progress: Callable[..., None],
        should_stop: Callable[[], bool] | None = None,
        **kwargs: Any,
    ) -> T:
        """``fn(*args, progress=..., **kwargs)`` elsewhere; its result or its exception here.
        Every report ``fn`` makes reaches ``progress``; with ``should_stop``, ``fn`` gets a
        ``should_stop`` of its own that turns true when this one does."""
        ...


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
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    lease_expires_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True, index=True
    )


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

    def __init__(
        self,
        db: Database,
        work_root: Path,
        lease_seconds: float = 60.0,
        workers: int = 1,
    ) -> None:
        self.db = db
        self.lease_seconds = lease_seconds
        self.id = uuid.uuid4().hex[:16]
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{self.id}"
        self.work_root = work_root
        self.work = work_root / self.id  # this runner's folder of job work folders
        self.work.mkdir(parents=True, exist_ok=True)
        (self.work / _LEASE_FILE).touch()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tympan-job")
        self._futures: dict[str, Future[None]] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._closing = threading.Event()
        self.recover()
        self._heartbeat = threading.Thread(target=self._beat, name="tympan-job-lease", daemon=True)
        self._heartbeat.start()

    # -- leases ---------------------------------------------------------------------------

    def _lease_end(self) -> datetime:
        return utc_now() + timedelta(seconds=self.lease_seconds)

    def recover(self) -> list[str]:
        """Fail every job whose lease lapsed, remove dead runners' work folders; the failed ids."""
        now = utc_now()
        with self.db.write_session() as session:
            lapsed = list(
                session.scalars(
                    select(JobRow.id).where(
                        JobRow.status.in_(UNFINISHED),
                        or_(JobRow.lease_expires_at.is_(None), JobRow.lease_expires_at < now),
                    )
                ).all()
            )
            if lapsed:
                session.execute(
                    _interrupt(
                        lapsed,
                        "The process running this job stopped (its lease lapsed: killed or "
                        "restarted); training is not resumed, submit it again.",
                    )
                )
        for job_id in lapsed:
            log.warning("job %s failed: its lease lapsed", job_id)
        self._remove_dead_work_folders()
        return lapsed

    def _remove_dead_work_folders(self) -> None:
        horizon = time.time() - self.lease_seconds
        for folder in self.work_root.iterdir() if self.work_root.is_dir() else ():
            if folder == self.work or not folder.is_dir():
                continue
            lease = folder / _LEASE_FILE
            touched = lease.stat().st_mtime if lease.exists() else folder.stat().st_mtime
            if touched < horizon:
                shutil.rmtree(folder, ignore_errors=True)

    def renew(self) -> None:
        """Extend the leases of this runner's unfinished jobs and of its work folder."""
        (self.work / _LEASE_FILE).touch()
        with self._lock:
            mine = list(self._futures)
        if mine:
            with self.db.session() as session:
                session.execute(
                    update(JobRow)
                    .where(JobRow.id.in_(mine), JobRow.status.in_(UNFINISHED))
                    .values(lease_expires_at=self._lease_end())
                )

    def _beat(self) -> None:
        while not self._stopped.wait(self.lease_seconds / 3):
            try:
                self.renew()
                self.recover()
            except Exception:  # a busy database must not stop the heartbeat
                log.exception("job lease renewal failed")

    # -- work -----------------------------------------------------------------------------

    def new_work_folder(self) -> Path:
        """A fresh folder for one job's uploads and outputs, removed if this process dies."""
        folder = self.work / uuid.uuid4().hex
        folder.mkdir(parents=True)
        return folder

    def submit(
        self,
        kind: str,
        work: Callable[[Progress], dict[str, Any]],
        params: dict[str, Any] | None = None,
        work_folder: Path | None = None,
        job_id: str | None = None,
    ) -> Job:
        """Queue ``work(progress)``; its returned dict becomes the job's result.

        ``work_folder`` (from ``new_work_folder``) is removed when the job ends. ``job_id``
        (unique, at most 40 characters) replaces the generated ``job_...`` id.
        """
        job_id = job_id or f"job_{uuid.uuid4().hex[:24]}"
        request_id = current_request_id()  # links the job to the HTTP call that started it
        if request_id:
            params = {**(params or {}), "request_id": request_id}
        log.info("job %s (%s) submitted, request_id=%s", job_id, kind, request_id)
        with self.db.session() as session:
            session.add(
                JobRow(
                    id=job_id,
                    kind=kind,
                    owner=self.owner,
                    params=params or {},
                    lease_expires_at=self._lease_end(),
                )
            )
        with self._lock:  # held so the job cannot end (and unregister) before it is registered
            self._futures[job_id] = self._pool.submit(self._run, job_id, work, work_folder)
        return self.get(job_id)

    def _run(
        self, job_id: str, work: Callable[[Progress], dict[str, Any]], folder: Path | None
    ) -> None:
        last_write = 0.0

        def progress(fraction: float, message: str) -> None:
            nonlocal last_write
            now = time.monotonic()
            if now - last_write >= 0.2 or fraction >= 1.0:  # throttle database writes
                last_write = now
                self._update(job_id, progress=max(0.0, min(1.0, fraction)), message=message)

        try:
            if not self._update(job_id, status="running"):
                return  # cancelled while it waited in the queue
            result = work(progress)
        except TympanError as exc:
            self._finish(
                job_id, status="failed", error={**exc.to_body()["error"], "status": exc.status}
            )
        except Exception as exc:
            log.exception("job %s failed", job_id)
            self._finish(
                job_id,
                status="failed",
                error={
                    "message": f"{type(exc).__name__}: {exc}",
                    "code": "internal_error",
                    "status": 500,
                },
            )
        else:
            self._finish(job_id, status="succeeded", progress=1.0, result=result)
        finally:
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
            with self._lock:
                self._futures.pop(job_id, None)

    def _update(self, job_id: str, **values: Any) -> bool:
        """Change an unfinished job (renewing its lease); False if it already ended."""
        values = {"updated_at": utc_now(), "lease_expires_at": self._lease_end(), **values}
        with self.db.session() as session:
            changed = session.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.status.in_(UNFINISHED))
                .values(**values)
            )
            return bool(changed.rowcount)  # type: ignore[attr-defined]

    def _finish(self, job_id: str, **values: Any) -> None:
        if not self._update(job_id, lease_expires_at=None, **values):
            log.warning("job %s already ended (cancelled, or its lease lapsed); kept", job_id)

    def get(self, job_id: str) -> Job:
        """The job's current state; ``ResourceNotFound`` (404) if unknown."""
        with self.db.session() as session:
            row = session.scalar(select(JobRow).where(JobRow.id == job_id))
            if row is None:
                raise ResourceNotFound(f"No job {job_id!r}.", param="job_id")
            return Job.from_row(row)

    def ended(self, job_id: str) -> bool:
        """Whether a job has ended: work polls it to stop early once it was cancelled (by any
        process on the database) or failed by a lapsed lease."""
        with self.db.session() as session:
            status = session.scalar(select(JobRow.status).where(JobRow.id == job_id))
            return status not in UNFINISHED

    def list(
        self, kind: str | None = None, status: str | None = None, limit: int | None = None
    ) -> list[Job]:
        """Jobs newest first, optionally of one kind and status (``limit`` of them at most)."""
        query = select(JobRow).order_by(JobRow.created_at.desc(), JobRow.id).limit(limit)
        if kind is not None:
            query = query.where(JobRow.kind == kind)
        if status is not None:
            query = query.where(JobRow.status == status)
        with self.db.session() as session:
            return [Job.from_row(row) for row in session.scalars(query)]

    def counts(self) -> dict[tuple[str, str], int]:
        """How many jobs there are of each (kind, status)."""
        query = select(JobRow.kind, JobRow.status, func.count()).group_by(
            JobRow.kind, JobRow.status
        )
        with self.db.session() as session:
            return {(kind, status): count for kind, status, count in session.execute(query)}

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job ends (in-process callers and tests); returns its final state."""
        with self._lock:
            future = self._futures.get(job_id)
        if future is not None:
            future.result(timeout=timeout)
        return self.get(job_id)

    @property
    def closing(self) -> bool:
        """Whether the runner is shutting down: long work that can stop early should."""
        return self._closing.is_set()

    def close(self) -> None:
        """Wait for running jobs (``closing`` tells them to stop early if they can), fail the
        queued ones at once (``interrupted``, rather than when their lease lapses), stop the pool
        and the heartbeat, remove the work folder."""
        self._closing.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            never_started = list(self._futures)  # cancelled in the queue: they never ran
        if never_started:
            with self.db.session() as session:
                session.execute(
                    _interrupt(
                        never_started,
                        "The server shut down before this job started; submit it again.",
                    ).where(JobRow.status.in_(UNFINISHED))
                )
        self._stopped.set()
        self._heartbeat.join()
        shutil.rmtree(self.work, ignore_errors=True)


def _interrupt(job_ids: list[str], message: str) -> Update:
    """The update that fails ``job_ids`` as ``interrupted`` (503: submit again)."""
    return (
        update(JobRow)
        .where(JobRow.id.in_(job_ids))
        .values(
            status="failed",
            error={"message": message, "code": "interrupted", "status": 503},
            lease_expires_at=None,
            updated_at=utc_now(),
        )
    )
