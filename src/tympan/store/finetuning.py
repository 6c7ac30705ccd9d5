"""Fine-tuning jobs (``/v1/fine_tuning/jobs``), their events, and the models they publish.

A fine-tuning job is a row of its own (``ftjob-...``: base model, files, hyper-parameters)
beside the runner's job row of the same id (``store/jobs.py``) that holds its life: queued,
running, ended, lease. Its public status is the runner's, except that a running job is
``validating_files`` until its dataset has been read. Events (messages, and metrics per step)
are rows numbered by the database.

A finished job publishes a model ``ft:<base>:<suffix>:<N>``. As for classifier versions, the
database numbers it: a hidden ``publishing`` row reserves ``N`` (unique ``(name, version)``,
retried on conflict), and ``complete_version`` turns it into a ``ready`` model, moving its files
in, in the same transaction that checks the job was not cancelled meanwhile; cancelling takes
the same lock, so a cancelled job never publishes and a published one cannot be cancelled. A
reservation whose job is no longer running (its process died and the runner failed it) is
abandoned with its files: its number is never reused. A published version is ``staging`` until
promoted; one version per name is ``production`` (the bare name serves it, else the newest),
and ``rollback`` restores the one promoted before it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import JSON, DateTime, Integer, String, Text, UniqueConstraint, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from tympan.errors import Conflict, ResourceNotFound
from tympan.store.db import Base, Database, as_utc, utc_now
from tympan.store.files import FileRow
from tympan.store.jobs import UNFINISHED, JobRow

__all__ = [
    "DISCARD_OPTION",
    "FineTunedModel",
    "FineTuningEvent",
    "FineTuningJob",
    "FineTuningStore",
    "Stage",
    "new_fine_tuning_id",
    "served_model",
]

Stage = Literal["staging", "production", "archived"]
PUBLISHING = "publishing"
READY = "ready"
ABANDONED = "abandoned"
DISCARD_OPTION = "discard_training_file"
"""A job option: its training file was made for it alone, and is deleted once unpacked."""
_RESERVE_ATTEMPTS = 8


class FineTuningJobRow(Base):
    __tablename__ = "fine_tuning_jobs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    namespace: Mapped[str] = mapped_column(String(64), index=True)
    model: Mapped[str] = mapped_column(String(200))
    training_file: Mapped[str] = mapped_column(String(40))
    validation_file: Mapped[str | None] = mapped_column(String(40), nullable=True)
    suffix: Mapped[str] = mapped_column(String(64))
    seed: Mapped[int] = mapped_column(Integer)
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    phase: Mapped[str] = mapped_column(String(24), default="validating_files")
    fine_tuned_model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class FineTuningEventRow(Base):
    __tablename__ = "fine_tuning_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(40), index=True)
    level: Mapped[str] = mapped_column(String(8))
    type: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class FineTunedModelRow(Base):
    __tablename__ = "fine_tuned_models"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int] = mapped_column(Integer)
    namespace: Mapped[str] = mapped_column(String(64))
    base: Mapped[str] = mapped_column(String(200))
    job_id: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(16))
    stage: Mapped[str] = mapped_column(String(16), default="staging")
    promoted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


@dataclass(frozen=True, slots=True)
class FineTuningJob:
    """A fine-tuning job with its life from the runner's row."""

    id: str
    namespace: str
    model: str
    training_file: str
    validation_file: str | None
    suffix: str
    seed: int
    hyperparameters: dict[str, Any]
    options: dict[str, Any]
    status: str
    error: dict[str, Any] | None
    fine_tuned_model: str | None
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def from_rows(cls, row: FineTuningJobRow, job: JobRow) -> FineTuningJob:
        status = row.phase if job.status == "running" else job.status
        ended = job.status not in UNFINISHED
        return cls(
            row.id,
            row.namespace,
            row.model,
            row.training_file,
            row.validation_file,
            row.suffix,
            row.seed,
            dict(row.hyperparameters),
            dict(row.options),
            status,
            job.error,
            row.fine_tuned_model,
            as_utc(row.created_at),
            as_utc(job.updated_at) if ended else None,
        )


@dataclass(frozen=True, slots=True)
class FineTuningEvent:
    """One event of a job: a message, or a step's metrics in ``data``."""

    id: int
    job_id: str
    level: str
    type: str
    message: str
    data: dict[str, Any] | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: FineTuningEventRow) -> FineTuningEvent:
        return cls(
            row.id,
            row.job_id,
            row.level,
            row.type,
            row.message,
            row.data,
            as_utc(row.created_at),
        )


@dataclass(frozen=True, slots=True)
class FineTunedModel:
    """A published fine-tuned model: ``ref`` is its model id, ``ft:<base>:<suffix>:<N>``."""

    name: str
    version: int
    namespace: str
    base: str
    job_id: str
    stage: str
    report: dict[str, Any]
    created_at: datetime

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    @classmethod
    def from_row(cls, row: FineTunedModelRow) -> FineTunedModel:
        return cls(
            row.name,
            row.version,
            row.namespace,
            row.base,
            row.job_id,
            row.stage,
            dict(row.report or {}),
            as_utc(row.created_at),
        )


def new_fine_tuning_id() -> str:
    """A fresh job id in OpenAI's form (``ftjob-`` and 24 hex digits)."""
    return f"ftjob-{uuid.uuid4().hex[:24]}"


class FineTuningStore:
    """Fine-tuning jobs, events and published models, in the service database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- jobs -----------------------------------------------------------------------------

    def add(self, row: FineTuningJobRow) -> None:
        """Record a job (``get`` finds it once the runner's row of the same id exists too)."""
        with self.db.session() as session:
            session.add(row)

    def get(self, fine_tuning_id: str, namespace: str) -> FineTuningJob:
        """A job of ``namespace``; ``ResourceNotFound`` (404) if it has none by that id."""
        with self.db.session() as session:
            found = session.execute(
                select(FineTuningJobRow, JobRow)
                .join(JobRow, JobRow.id == FineTuningJobRow.id)
                .where(FineTuningJobRow.id == fine_tuning_id)
            ).first()
            if found is None or found[0].namespace != namespace:
                raise ResourceNotFound(
                    f"No fine-tuning job with id {fine_tuning_id!r}.", param="fine_tuning_job_id"
                )
            return FineTuningJob.from_rows(*found)

    def list(
        self, namespace: str, after: str | None = None, limit: int = 20
    ) -> tuple[list[FineTuningJob], bool]:
        """A page of the namespace's jobs, newest first, after the job ``after``; and whether
        more follow."""
        query = (
            select(FineTuningJobRow, JobRow)
            .join(JobRow, JobRow.id == FineTuningJobRow.id)
            .where(FineTuningJobRow.namespace == namespace)
            .order_by(FineTuningJobRow.created_at.desc(), FineTuningJobRow.id.desc())
        )
        with self.db.session() as session:
            if after is not None:
                cursor = session.get(FineTuningJobRow, after)
                if cursor is None or cursor.namespace != namespace:
                    raise ResourceNotFound(f"No fine-tuning job with id {after!r}.", param="after")
                query = query.where(
                    (FineTuningJobRow.created_at < cursor.created_at)
                    | (
                        (FineTuningJobRow.created_at == cursor.created_at)
                        & (FineTuningJobRow.id < cursor.id)
                    )
                )
            rows = session.execute(query.limit(limit + 1)).all()
        jobs = [FineTuningJob.from_rows(*row) for row in rows[:limit]]
        return jobs, len(rows) > limit

    def set_phase(self, fine_tuning_id: str, phase: str) -> None:
        """What a running job is doing: ``validating_files`` or ``running``."""
        with self.db.session() as session:
            row = session.get(FineTuningJobRow, fine_tuning_id)
            if row is not None:
                row.phase = phase

    def cancel(self, fine_tuning_id: str, namespace: str) -> FineTuningJob:
        """End a queued or running job as ``cancelled``; ``Conflict`` (409) once it ended."""
        self.get(fine_tuning_id, namespace)  # 404 outside the namespace
        with self.db.write_session() as session:
            row, job = self._locked(session, fine_tuning_id)
            if job.status not in UNFINISHED:
                raise Conflict(
                    f"Fine-tuning job {fine_tuning_id!r} already ended ({job.status}); only a "
                    "queued or running job can be cancelled.",
                    param="fine_tuning_job_id",
                )
            job.status, job.lease_expires_at, job.updated_at = "cancelled", None, utc_now()
            job.message = "cancelled"
            session.flush()
            return FineTuningJob.from_rows(row, job)

    @staticmethod
    def _locked(session: Session, fine_tuning_id: str) -> tuple[FineTuningJobRow, JobRow]:
        row = session.scalar(
            select(FineTuningJobRow).where(FineTuningJobRow.id == fine_tuning_id).with_for_update()
        )
        assert row is not None, fine_tuning_id
        job = session.scalar(select(JobRow).where(JobRow.id == row.id).with_for_update())
        assert job is not None, row.id
        return row, job

    # -- events ---------------------------------------------------------------------------

    def add_event(
        self,
        fine_tuning_id: str,
        message: str,
        data: dict[str, Any] | None = None,
        level: str = "info",
    ) -> None:
        """Append an event: ``metrics`` when it carries ``data``, else ``message``."""
        with self.db.session() as session:
            session.add(
                FineTuningEventRow(
                    job_id=fine_tuning_id,
                    level=level,
                    type="metrics" if data is not None else "message",
                    message=message,
                    data=data,
                )
            )

    def events(
        self, fine_tuning_id: str, after: int | None = None, limit: int = 20
    ) -> tuple[list[FineTuningEvent], bool]:
        """A page of a job's events, newest first, older than event ``after``; and whether
        more follow."""
        query = select(FineTuningEventRow).where(FineTuningEventRow.job_id == fine_tuning_id)
        if after is not None:
            query = query.where(FineTuningEventRow.id < after)
        query = query.order_by(FineTuningEventRow.id.desc()).limit(limit + 1)
        with self.db.session() as session:
            rows = list(session.scalars(query))
        return [FineTuningEvent.from_row(row) for row in rows[:limit]], len(rows) > limit

    # -- published models -----------------------------------------------------------------

    def check_name(self, name: str, namespace: str) -> None:
        """``Conflict`` (409) when another namespace's models already use ``name``: a name
        (``ft:<base>:<suffix>``) and its bare alias belong to the first namespace to use it."""
        with self.db.session() as session:
            self._check_name(session, name, namespace)

    @staticmethod
    def _check_name(session: Session, name: str, namespace: str) -> None:
        owner = session.scalar(
            select(FineTunedModelRow.namespace).where(FineTunedModelRow.name == name).limit(1)
        )
        if owner not in (None, namespace):
            raise Conflict(f"The model name {name!r} is taken on this server.", param="suffix")

    def reserve_version(self, name: str, namespace: str, base: str, fine_tuning_id: str) -> int:
        """Reserve the next version number of ``name`` (a hidden row the database numbers);
        ``Conflict`` if another namespace uses the name."""
        for _ in range(_RESERVE_ATTEMPTS):
            try:
                with self.db.write_session() as session:
                    self._check_name(session, name, namespace)
                    last = session.scalar(
                        select(func.max(FineTunedModelRow.version)).where(
                            FineTunedModelRow.name == name
                        )
                    )
                    number = (last or 0) + 1
                    session.add(
                        FineTunedModelRow(
                            name=name,
                            version=number,
                            namespace=namespace,
                            base=base,
                            job_id=fine_tuning_id,
                            state=PUBLISHING,
                            report={},
                        )
                    )
                return number
            except IntegrityError:  # another process took the number at the same moment
                continue
        raise Conflict(f"Could not reserve a version number of {name!r}; retry.", param="suffix")

    def complete_version(
        self, name: str, version: int, publish_files: Callable[[], None], report: dict[str, Any]
    ) -> FineTunedModel:
        """Turn a reservation into a ready model and name it on its job, calling
        ``publish_files`` under the job's lock; ``Conflict`` if the job was cancelled."""
        with self.db.write_session() as session:
            model = self._reservation(session, name, version)
            row, job = self._locked(session, model.job_id)
            if job.status not in UNFINISHED:
                raise Conflict(
                    f"Fine-tuning job {row.id!r} ended ({job.status}) before {name}:{version} "
                    "was published; nothing was published.",
                    param="fine_tuning_job_id",
                )
            publish_files()
            model.state, model.report, model.created_at = READY, report, utc_now()
            row.fine_tuned_model = f"{name}:{version}"
            session.flush()
            return FineTunedModel.from_row(model)

    def release_reservation(
        self, name: str, version: int, remove_files: Callable[[], None]
    ) -> None:
        """Give up a reserved number after a failed publish, its files first (never reused)."""
        with self.db.write_session() as session:
            row = session.scalar(self._version_query(name, version, PUBLISHING).with_for_update())
            if row is not None:
                remove_files()
                row.state = ABANDONED

    def abandon_reservations(self, remove_files: Callable[[str, int], None]) -> list[str]:
        """Abandon reservations whose job is no longer running (its process died), files first."""
        with self.db.write_session() as session:
            rows = session.execute(
                select(FineTunedModelRow, JobRow.status)
                .join(FineTuningJobRow, FineTuningJobRow.id == FineTunedModelRow.job_id)
                .join(JobRow, JobRow.id == FineTuningJobRow.id)
                .where(FineTunedModelRow.state == PUBLISHING)
                .with_for_update()
            ).all()
            lapsed = [model for model, status in rows if status not in UNFINISHED]
            for model in lapsed:
                remove_files(model.name, model.version)
                model.state = ABANDONED
            return [f"{model.name}:{model.version}" for model in lapsed]

    def leftover_training_files(self) -> list[tuple[str, str]]:
        """(namespace, file id) of the training files made for one job alone (a corrections
        batch's zip) whose job ended while the file is still stored: a job failed or cancelled
        before it unpacked (and deleted) it."""
        query = (
            select(
                FineTuningJobRow.namespace, FineTuningJobRow.training_file, FineTuningJobRow.options
            )
            .join(JobRow, JobRow.id == FineTuningJobRow.id)
            .join(FileRow, FileRow.id == FineTuningJobRow.training_file)
            .where(JobRow.status.not_in(UNFINISHED))
        )
        with self.db.session() as session:
            rows = session.execute(query).all()
        return [(ns, file_id) for ns, file_id, options in rows if options.get(DISCARD_OPTION)]

    def models(self, namespace: str | None = None, name: str | None = None) -> list[FineTunedModel]:
        """Every ready model (of ``namespace``, of ``name``, when given), oldest first."""
        query = select(FineTunedModelRow).where(FineTunedModelRow.state == READY)
        if namespace is not None:
            query = query.where(FineTunedModelRow.namespace == namespace)
        if name is not None:
            query = query.where(FineTunedModelRow.name == name)
        query = query.order_by(FineTunedModelRow.name, FineTunedModelRow.version)
        with self.db.session() as session:
            return [FineTunedModel.from_row(row) for row in session.scalars(query)]

    def model(self, name: str, version: int) -> FineTunedModel:
        """A ready model; ``ResourceNotFound`` (404) if there is none."""
        with self.db.session() as session:
            row = session.scalar(self._version_query(name, version, READY))
            if row is None:
                raise ResourceNotFound(f"No fine-tuned model {name}:{version}.", param="model")
            return FineTunedModel.from_row(row)

    def promote(self, name: str, version: int, stage: Stage, namespace: str) -> FineTunedModel:
        """Move a version of the namespace's ``name`` to ``stage``; a new production version
        archives the previous one, which ``rollback`` can restore."""
        with self.db.write_session() as session:
            rows = self._versions(session, name, namespace)
            row = next((item for item in rows if item.version == version), None)
            if row is None:
                raise ResourceNotFound(f"No fine-tuned model {name}:{version}.", param="version")
            if stage == "production" and row.stage != "production":
                for current in rows:
                    if current.stage == "production":
                        current.stage = "archived"
                row.promoted_at = utc_now()
            elif stage != "production":
                row.promoted_at = None
            row.stage = stage
            session.flush()
            return FineTunedModel.from_row(row)

    def rollback(self, name: str, namespace: str) -> FineTunedModel:
        """Put back the version that was in production before the current one; ``Conflict``
        (409) if there is none."""
        with self.db.write_session() as session:
            rows = self._versions(session, name, namespace)
            current = next((row for row in rows if row.stage == "production"), None)
            earlier = [
                row for row in rows
                if row.stage == "archived" and row.promoted_at is not None
            ]  # fmt: skip
            if current is None or not earlier:
                raise Conflict(f"{name!r} has no earlier production version.", param="name")
            previous = max(earlier, key=lambda row: as_utc(row.promoted_at))  # type: ignore[arg-type]
            current.stage, current.promoted_at = "archived", None
            previous.stage = "production"
            session.flush()
            return FineTunedModel.from_row(previous)

    @staticmethod
    def _versions(session: Session, name: str, namespace: str) -> list[FineTunedModelRow]:
        rows = list(
            session.scalars(
                select(FineTunedModelRow)
                .where(FineTunedModelRow.name == name, FineTunedModelRow.state == READY)
                .order_by(FineTunedModelRow.version)
                .with_for_update()
            )
        )
        if not rows or rows[0].namespace != namespace:
            raise ResourceNotFound(f"No fine-tuned model named {name!r}.", param="name")
        return rows

    def _reservation(self, session: Session, name: str, version: int) -> FineTunedModelRow:
        row = session.scalar(self._version_query(name, version, PUBLISHING).with_for_update())
        if row is None:
            raise Conflict(f"The reservation of {name}:{version} lapsed; retry.", param="suffix")
        return row

    @staticmethod
    def _version_query(name: str, version: int, state: str):  # type: ignore[no-untyped-def]
        return select(FineTunedModelRow).where(
            FineTunedModelRow.name == name,
            FineTunedModelRow.version == version,
            FineTunedModelRow.state == state,
        )


def served_model(versions: list[FineTunedModel]) -> FineTunedModel:
    """The version a bare name serves: the production one, else the newest."""
    production = [model for model in versions if model.stage == "production"]
    return (production or versions)[-1]
