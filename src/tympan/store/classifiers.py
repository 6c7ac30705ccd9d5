"""The classifier registry: versions (``digits:1``, ``digits:2``), their stages and promotions.

Every training run or incremental update adds a version row with its metrics, dataset
fingerprint, config and artifact checksums. One version per classifier may be in
``production``; promoting pushes the previous one onto a history so ``rollback`` can restore it.

The database decides, so any number of processes can share it: a version number is reserved
by inserting a hidden ``publishing`` row under the write lock (unique ``(name, version)``,
retried on conflict), and ``complete_version`` turns it into a ``staging`` version only while the
reservation still holds. A reservation is renewed while its files are written; one whose
publisher died (not renewed within the lease) is reaped with its files, so a number is never
handed to a second publisher while a first one's folder may still exist: the reaper removes the
files and keeps the number as a hidden ``abandoned`` row (numbers may have gaps; they are never
reused). Stage changes lock the classifier's row (``SELECT ... FOR UPDATE``; ``BEGIN IMMEDIATE``
on SQLite).

A classifier belongs to one namespace (its row's ``namespace``, set when a namespace first
``claim``s the name); reads given a namespace see only that namespace's classifiers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import JSON, DateTime, Integer, String, UniqueConstraint, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from tympan.config import DEFAULT_NAMESPACE
from tympan.errors import Conflict, ResourceNotFound
from tympan.store.db import Base, Database, as_utc, utc_now

__all__ = ["ClassifierStore", "ClassifierVersion", "Stage", "served_version"]

Stage = Literal["none", "staging", "production", "archived"]
PUBLISHING = "publishing"
"""The hidden stage of a reserved number whose files are still being written."""
ABANDONED = "abandoned"
"""The hidden stage of a number whose publisher died: never served, never reused."""
HIDDEN = (PUBLISHING, ABANDONED)
_RESERVE_ATTEMPTS = 8


class ClassifierRow(Base):
    __tablename__ = "classifiers"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    namespace: Mapped[str] = mapped_column(
        String(64), default=DEFAULT_NAMESPACE, server_default=DEFAULT_NAMESPACE
    )
    production_history: Mapped[list[int]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class ClassifierVersionRow(Base):
    __tablename__ = "classifier_versions"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    arch: Mapped[str] = mapped_column(String(32))
    stage: Mapped[str] = mapped_column(String(16), default="none")
    labels: Mapped[list[str]] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dataset_fingerprint: Mapped[str] = mapped_column(String(64))
    artifacts: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    parent_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


@dataclass(frozen=True, slots=True)
class ClassifierVersion:
    """One trained version as clients see it (``artifacts`` maps file name to SHA-256)."""

    name: str
    version: int
    arch: str
    stage: str
    labels: list[str]
    metrics: dict[str, Any]
    config: dict[str, Any]
    dataset_fingerprint: str
    artifacts: dict[str, str]
    parent_version: int | None
    created_at: datetime
    ref: str = field(default="")

    @classmethod
    def from_row(cls, row: ClassifierVersionRow) -> ClassifierVersion:
        return cls(
            row.name,
            row.version,
            row.arch,
            row.stage,
            list(row.labels),
            dict(row.metrics or {}),
            dict(row.config or {}),
            row.dataset_fingerprint,
            dict(row.artifacts or {}),
            row.parent_version,
            row.created_at,
            f"{row.name}:{row.version}",
        )


class ClassifierStore:
    """Versions and stages of every classifier, in the service database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def claim(self, name: str, namespace: str) -> None:
        """Give ``name`` to ``namespace`` on first use; ``Conflict`` if another namespace has it."""
        try:
            with self.db.session() as session:
                if session.get(ClassifierRow, name) is None:
                    session.add(
                        ClassifierRow(name=name, namespace=namespace, production_history=[])
                    )
        except IntegrityError:  # claimed at the same moment; the owner is checked below
            pass
        if self.owners().get(name) != namespace:
            raise Conflict(f"The name {name!r} is taken on this server.", param="name")

    def reserve_version(self, name: str, namespace: str = DEFAULT_NAMESPACE) -> int:
        """Reserve the next version number of ``name`` (a hidden row the database numbers).

        ``Conflict`` if another namespace owns the name.
        """
        for _ in range(_RESERVE_ATTEMPTS):
            try:
                with self.db.write_session() as session:
                    owner = self._classifier(session, name)
                    if owner is None:
                        session.add(
                            ClassifierRow(name=name, namespace=namespace, production_history=[])
                        )
                        session.flush()
                        self._classifier(session, name)
                    elif owner.namespace != namespace:
                        raise Conflict(f"The name {name!r} is taken on this server.", param="name")
                    last = session.scalar(
                        select(func.max(ClassifierVersionRow.version)).where(
                            ClassifierVersionRow.name == name
                        )
                    )
                    number = (last or 0) + 1
                    session.add(
                        ClassifierVersionRow(
                            name=name,
                            version=number,
                            arch="",
                            stage=PUBLISHING,
                            labels=[],
                            dataset_fingerprint="",
                        )
                    )
                return number
            except IntegrityError:  # another process took the name's first row or the number
                continue
        raise Conflict(f"Could not reserve a version number of {name!r}; retry.", param="name")

    def renew_reservation(self, name: str, version: int) -> None:
        """Keep a reservation alive while its files are written; ``Conflict`` if it was reaped."""
        with self.db.write_session() as session:
            self._reservation(session, name, version).created_at = utc_now()

    def complete_version(
        self,
        name: str,
        version: int,
        publish_files: Callable[[], None],
        *,
        arch: str,
        labels: list[str],
        metrics: dict[str, Any],
        config: dict[str, Any],
        dataset_fingerprint: str,
        artifacts: dict[str, str],
        parent_version: int | None = None,
    ) -> ClassifierVersion:
        """Turn a reservation into a staged version, calling ``publish_files`` under its lock.

        ``publish_files`` moves the version's folder into place; it runs in the same
        transaction, so the folder and the row appear together or (on error) neither does.
        """
        with self.db.write_session() as session:
            row = self._reservation(session, name, version)
            publish_files()
            row.arch, row.stage, row.labels = arch, "staging", labels
            row.metrics, row.config, row.artifacts = metrics, config, artifacts
            row.dataset_fingerprint, row.parent_version = dataset_fingerprint, parent_version
            row.created_at = utc_now()
            session.flush()
            return ClassifierVersion.from_row(row)

    def release_reservation(
        self, name: str, version: int, remove_files: Callable[[], None]
    ) -> None:
        """Give back a reserved number after a failed publish, removing its files first.

        A reservation already reaped is left alone: its files are gone, and its number is
        kept as ``abandoned``.
        """
        with self.db.write_session() as session:
            row = session.scalar(
                self._version_query(name, version, hidden=True)
                .where(ClassifierVersionRow.stage == PUBLISHING)
                .with_for_update()
            )
            if row is not None:
                remove_files()
                session.delete(row)

    def reap_reservations(
        self, lease_seconds: float, remove_files: Callable[[str, int], None]
    ) -> list[str]:
        """Drop reservations not renewed within the lease (their publisher died), files first."""
        cutoff = utc_now() - timedelta(seconds=lease_seconds)
        with self.db.write_session() as session:
            rows = session.scalars(
                select(ClassifierVersionRow)
                .where(ClassifierVersionRow.stage == PUBLISHING)
                .with_for_update()
            ).all()
            lapsed = [row for row in rows if as_utc(row.created_at) < cutoff]
            for row in lapsed:
                remove_files(row.name, row.version)
                row.stage = ABANDONED
            return [f"{row.name}:{row.version}" for row in lapsed]

    def sweep(self, remove_orphans: Callable[[dict[tuple[str, int], str]], None]) -> None:
        """Call ``remove_orphans`` with the stage of every number, under the write lock.

        Holding the lock, no publisher can move a folder in meanwhile, so a folder whose
        number has no row (or an ``abandoned`` one) is an orphan and may go.
        """
        with self.db.write_session() as session:
            rows = session.execute(
                select(
                    ClassifierVersionRow.name,
                    ClassifierVersionRow.version,
                    ClassifierVersionRow.stage,
                ).with_for_update()
            ).all()
            remove_orphans({(row.name, row.version): row.stage for row in rows})

    def _reservation(self, session: Session, name: str, version: int) -> ClassifierVersionRow:
        row = session.scalar(
            self._version_query(name, version, hidden=True)
            .where(ClassifierVersionRow.stage == PUBLISHING)
            .with_for_update()
        )
        if row is None:
            raise Conflict(
                f"The reservation of {name}:{version} lapsed before it was published "
                "(raise TYMPAN_JOB_LEASE_SECONDS if the machine is this slow); retry.",
                param="name",
            )
        return row

    @staticmethod
    def _classifier(session: Session, name: str) -> ClassifierRow | None:
        return session.scalar(
            select(ClassifierRow).where(ClassifierRow.name == name).with_for_update()
        )

    @staticmethod
    def _version_query(name: str, version: int, hidden: bool = False):  # type: ignore[no-untyped-def]
        query = select(ClassifierVersionRow).where(
            ClassifierVersionRow.name == name, ClassifierVersionRow.version == version
        )
        return query if hidden else query.where(ClassifierVersionRow.stage.not_in(HIDDEN))

    @staticmethod
    def _of(namespace: str | None):  # type: ignore[no-untyped-def]
        """Published version rows (of ``namespace``'s classifiers only, when given)."""
        query = select(ClassifierVersionRow).where(ClassifierVersionRow.stage.not_in(HIDDEN))
        if namespace is None:
            return query
        return query.join(ClassifierRow, ClassifierRow.name == ClassifierVersionRow.name).where(
            ClassifierRow.namespace == namespace
        )

    def owners(self) -> dict[str, str]:
        """The namespace of every claimed classifier name."""
        with self.db.session() as session:
            return dict(session.execute(select(ClassifierRow.name, ClassifierRow.namespace)).all())

    def names(self, namespace: str | None = None) -> list[str]:
        """Every classifier name with a version (of ``namespace``, when given), sorted."""
        query = self._of(namespace).with_only_columns(ClassifierVersionRow.name).distinct()
        with self.db.session() as session:
            return sorted(session.scalars(query).all())

    def versions(self, name: str, namespace: str | None = None) -> list[ClassifierVersion]:
        """Every version of ``name`` (in ``namespace``, when given), oldest first;
        ``ResourceNotFound`` if there is none."""
        query = self._of(namespace).where(ClassifierVersionRow.name == name)
        with self.db.session() as session:
            rows = session.scalars(query.order_by(ClassifierVersionRow.version)).all()
            if not rows:
                raise ResourceNotFound(f"No classifier named {name!r}.", param="name")
            return [ClassifierVersion.from_row(row) for row in rows]

    def all_versions(self) -> list[ClassifierVersion]:
        """Every version of every classifier."""
        with self.db.session() as session:
            rows = session.scalars(
                select(ClassifierVersionRow)
                .where(ClassifierVersionRow.stage.not_in(HIDDEN))
                .order_by(ClassifierVersionRow.name, ClassifierVersionRow.version)
            ).all()
            return [ClassifierVersion.from_row(row) for row in rows]

    def get(
        self, name: str, version: int | None = None, namespace: str | None = None
    ) -> ClassifierVersion:
        """A version, or the served one (production, else the newest) when none is given."""
        versions = self.versions(name, namespace)
        if version is None:
            return served_version(versions)
        for item in versions:
            if item.version == version:
                return item
        raise ResourceNotFound(f"Classifier {name!r} has no version {version}.", param="version")

    def promote(self, name: str, version: int, stage: Stage) -> ClassifierVersion:
        """Move a version to ``stage``; a new production version retires the old one."""
        with self.db.write_session() as session:
            classifier = self._classifier(session, name)
            row = self._row(session, name, version)
            assert classifier is not None
            if stage == "production" and row.stage != "production":
                history = list(classifier.production_history or [])
                for current in self._in_stage(session, name, "production"):
                    current.stage = "archived"
                classifier.production_history = [*history, version]
            row.stage = stage
            session.flush()
            return ClassifierVersion.from_row(row)

    def rollback(self, name: str) -> ClassifierVersion:
        """Put the previous production version back; ``Conflict`` if there is none."""
        with self.db.write_session() as session:
            classifier = self._classifier(session, name)
            if classifier is None:
                raise ResourceNotFound(f"No classifier named {name!r}.", param="name")
            history = list(classifier.production_history or [])
            if len(history) < 2:
                raise Conflict(f"{name!r} has no earlier production version.", param="name")
            current, previous = history[-1], history[-2]
            self._row(session, name, current).stage = "archived"
            restored = self._row(session, name, previous)
            restored.stage = "production"
            classifier.production_history = history[:-1]
            session.flush()
            return ClassifierVersion.from_row(restored)

    def _row(self, session: Session, name: str, version: int) -> ClassifierVersionRow:
        row = session.scalar(self._version_query(name, version))
        if row is None:
            raise ResourceNotFound(
                f"Classifier {name!r} has no version {version}.", param="version"
            )
        return row

    @staticmethod
    def _in_stage(session: Session, name: str, stage: str) -> list[ClassifierVersionRow]:
        return list(
            session.scalars(
                select(ClassifierVersionRow).where(
                    ClassifierVersionRow.name == name, ClassifierVersionRow.stage == stage
                )
            ).all()
        )


def served_version(versions: list[ClassifierVersion]) -> ClassifierVersion:
    """The version a bare name serves: the production one, else the newest."""
    production = [item for item in versions if item.stage == "production"]
    return (production or versions)[-1]
