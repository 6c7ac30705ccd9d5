"""ASR corrections (``/v1/audio/corrections``): a clip and what was really said in it.

A correction belongs to the namespace of the key that sent it and to the ASR model it corrects;
its audio lives in the artifact store (``corrections/<id>.wav``, written before the row and
removed after it). ``job_id`` records the fine-tuning job that trained on it; a correction
is unused while it has none, or its job failed or was cancelled (so it is trained on again).
``held_back`` marks one its job kept out of training to judge the new version by: no version
of the model ever trains on it, so every later job of the model is judged on it too.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Boolean, DateTime, Float, String, Text, false, func, select, update
from sqlalchemy.orm import Mapped, mapped_column

from tympan.errors import Conflict, ResourceNotFound
from tympan.store.db import Base, Database, as_utc, utc_now
from tympan.store.jobs import UNFINISHED, JobRow

__all__ = ["Correction", "CorrectionStore", "correction_key", "new_correction_id"]


class CorrectionRow(Base):
    __tablename__ = "asr_corrections"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    namespace: Mapped[str] = mapped_column(String(64), index=True)
    model: Mapped[str] = mapped_column(String(200), index=True)
    text: Mapped[str] = mapped_column(Text)
    speaker: Mapped[str | None] = mapped_column(String(200), nullable=True)
    seconds: Mapped[float] = mapped_column(Float)
    job_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    held_back: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


@dataclass(frozen=True, slots=True)
class Correction:
    """A stored correction as the API describes it."""

    id: str
    namespace: str
    model: str
    text: str
    speaker: str | None
    seconds: float
    job_id: str | None
    created_at: datetime
    held_back: bool = False

    @classmethod
    def from_row(cls, row: CorrectionRow) -> Correction:
        return cls(
            row.id,
            row.namespace,
            row.model,
            row.text,
            row.speaker,
            row.seconds,
            row.job_id,
            as_utc(row.created_at),
            row.held_back,
        )


def new_correction_id() -> str:
    """A fresh correction id (``corr-`` and 24 hex digits)."""
    return f"corr-{uuid.uuid4().hex[:24]}"


def correction_key(correction_id: str) -> str:
    """Where a correction's audio lives in the artifact store."""
    return f"corrections/{correction_id}.wav"


def _unused():  # type: ignore[no-untyped-def]
    """The condition of a correction no job trained on or will (none, or it failed)."""
    ended = select(JobRow.id).where(JobRow.status.in_(("failed", "cancelled")))
    return CorrectionRow.job_id.is_(None) | CorrectionRow.job_id.in_(ended)


class CorrectionStore:
    """The corrections of every namespace, in the service database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, correction: Correction) -> Correction:
        """Record a correction whose audio is already under ``correction_key``."""
        with self.db.session() as session:
            row = CorrectionRow(
                id=correction.id,
                namespace=correction.namespace,
                model=correction.model,
                text=correction.text,
                speaker=correction.speaker,
                seconds=correction.seconds,
                job_id=correction.job_id,
                created_at=correction.created_at,
                held_back=correction.held_back,
            )
            session.add(row)
            session.flush()
            return Correction.from_row(row)

    def list(
        self, namespace: str, model: str | None = None, unused: bool = False
    ) -> list[Correction]:
        """The namespace's corrections (of ``model``; only those no job trained on), oldest
        first."""
        query = (
            select(CorrectionRow)
            .where(CorrectionRow.namespace == namespace)
            .order_by(CorrectionRow.created_at, CorrectionRow.id)
        )
        if model is not None:
            query = query.where(CorrectionRow.model == model)
        if unused:
            query = query.where(_unused())
        with self.db.session() as session:
            return [Correction.from_row(row) for row in session.scalars(query)]

    def count_unused(self, namespace: str, model: str) -> int:
        """How many of the namespace's corrections of ``model`` no job trained on yet."""
        query = select(func.count()).where(
            CorrectionRow.namespace == namespace, CorrectionRow.model == model, _unused()
        )
        with self.db.session() as session:
            return int(session.scalar(query) or 0)

    def held_back(self, namespace: str, model: str) -> list[Correction]:
        """The corrections of ``model`` that jobs which did not fail kept out of training,
        oldest first: the judge of every new version."""
        query = (
            select(CorrectionRow)
            .where(
                CorrectionRow.namespace == namespace,
                CorrectionRow.model == model,
                CorrectionRow.held_back,
                ~_unused(),
            )
            .order_by(CorrectionRow.created_at, CorrectionRow.id)
        )
        with self.db.session() as session:
            return [Correction.from_row(row) for row in session.scalars(query)]

    def claim_unused(self, namespace: str, model: str, claim: str) -> list[Correction]:
        """Mark the unused corrections of ``model`` as taken by ``claim`` (a job id to be) and
        return them, oldest first, in one locked transaction: two callers at once never take
        the same correction (the later one finds none left). A failed job's corrections come
        back to be split afresh, so their ``held_back`` mark is cleared."""
        query = (
            select(CorrectionRow)
            .where(CorrectionRow.namespace == namespace, CorrectionRow.model == model, _unused())
            .order_by(CorrectionRow.created_at, CorrectionRow.id)
            .with_for_update()
        )
        with self.db.write_session() as session:
            rows = list(session.scalars(query))
            for row in rows:
                row.job_id = claim
                row.held_back = False
            return [Correction.from_row(row) for row in rows]

    def mark_used(
        self, ids: list[str], job_id: str | None, held_back: Collection[str] = ()
    ) -> None:
        """Record that the job ``job_id`` took the corrections ``ids`` (None: unused), keeping
        those in ``held_back`` out of its training."""
        kept = set(held_back)
        with self.db.write_session() as session:
            session.execute(
                update(CorrectionRow)
                .where(CorrectionRow.id.in_([i for i in ids if i not in kept]))
                .values(job_id=job_id, held_back=False)
            )
            session.execute(
                update(CorrectionRow)
                .where(CorrectionRow.id.in_([i for i in ids if i in kept]))
                .values(job_id=job_id, held_back=True)
            )

    def delete(self, correction_id: str, namespace: str) -> Correction:
        """Forget a correction of ``namespace`` (its audio is the caller's to remove next);
        ``ResourceNotFound`` (404) if it has none by that id, ``Conflict`` (409) while a job
        that trains on it (or one being started on it) has not ended."""
        with self.db.write_session() as session:
            row = session.get(CorrectionRow, correction_id, with_for_update=True)
            if row is None or row.namespace != namespace:
                raise ResourceNotFound(
                    f"No correction with id {correction_id!r}.", param="correction_id"
                )
            if row.job_id is not None:
                job = session.get(JobRow, row.job_id)  # None: a job is being started on it
                if job is None or job.status in UNFINISHED:
                    raise Conflict(
                        f"Correction {correction_id!r} is in use by fine-tuning job "
                        f"{row.job_id!r}; delete it once the job has ended, or cancel the job.",
                        param="correction_id",
                    )
            deleted = Correction.from_row(row)
            session.delete(row)
            return deleted
