"""The classifier registry: versions (``digits:1``, ``digits:2``), their stages and promotions.

Every training run or incremental update adds a version row with its metrics, dataset
fingerprint, config and artifact checksums. One version per classifier may be in
``production``; promoting pushes the previous one onto a history so ``rollback`` can restore it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import JSON, DateTime, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from tympan.config import DEFAULT_NAMESPACE
from tympan.errors import Conflict, ResourceNotFound
from tympan.store.db import Base, Database

__all__ = ["ClassifierStore", "ClassifierVersion", "Stage", "served_version"]

Stage = Literal["none", "staging", "production", "archived"]


def _now() -> datetime:
    return datetime.now(UTC)


class ClassifierRow(Base):
    __tablename__ = "classifiers"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    namespace: Mapped[str] = mapped_column(
        String(64), default=DEFAULT_NAMESPACE, server_default=DEFAULT_NAMESPACE
    )
    production_history: Mapped[list[int]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class ClassifierVersionRow(Base):
    __tablename__ = "classifier_versions"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    namespace: Mapped[str] = mapped_column(
        String(64), default=DEFAULT_NAMESPACE, server_default=DEFAULT_NAMESPACE, index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    arch: Mapped[str] = mapped_column(String(32))
    stage: Mapped[str] = mapped_column(String(16), default="none")
    labels: Mapped[list[str]] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dataset_fingerprint: Mapped[str] = mapped_column(String(64))
    artifacts: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    parent_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


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
    namespace: str = DEFAULT_NAMESPACE

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
            row.namespace,
        )


class ClassifierStore:
    """Versions and stages of every classifier, in the service database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def next_version(self, name: str) -> int:
        """The number the next version of ``name`` will get."""
        with self.db.session() as session:
            rows = session.scalars(
                select(ClassifierVersionRow.version).where(ClassifierVersionRow.name == name)
            ).all()
        return max(rows, default=0) + 1

    def add_version(
        self,
        name: str,
        version: int,
        *,
        arch: str,
        labels: list[str],
        metrics: dict[str, Any],
        config: dict[str, Any],
        dataset_fingerprint: str,
        artifacts: dict[str, str],
        parent_version: int | None = None,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> ClassifierVersion:
        """Record a finished version (staged); ``Conflict`` if the number or name is taken."""
        with self.db.session() as session:
            owner = session.get(ClassifierRow, name)
            if owner is None:
                session.add(ClassifierRow(name=name, namespace=namespace, production_history=[]))
            elif owner.namespace != namespace:
                raise Conflict(f"The name {name!r} is taken on this server.", param="name")
            taken = session.scalar(self._version_query(name, version))
            if taken is not None:
                raise Conflict(f"Version {name}:{version} already exists.", param="name")
            row = ClassifierVersionRow(
                name=name,
                version=version,
                arch=arch,
                stage="staging",
                labels=labels,
                metrics=metrics,
                config=config,
                dataset_fingerprint=dataset_fingerprint,
                artifacts=artifacts,
                parent_version=parent_version,
                namespace=namespace,
            )
            session.add(row)
            session.flush()
            return ClassifierVersion.from_row(row)

    @staticmethod
    def _version_query(name: str, version: int):  # type: ignore[no-untyped-def]
        return select(ClassifierVersionRow).where(
            ClassifierVersionRow.name == name, ClassifierVersionRow.version == version
        )

    def names(self, namespace: str | None = None) -> list[str]:
        """Every classifier name (of ``namespace``, when given), sorted."""
        query = select(ClassifierRow.name)
        if namespace is not None:
            query = query.where(ClassifierRow.namespace == namespace)
        with self.db.session() as session:
            return sorted(session.scalars(query).all())

    def versions(self, name: str, namespace: str | None = None) -> list[ClassifierVersion]:
        """Every version of ``name`` (in ``namespace``, when given), oldest first;
        ``ResourceNotFound`` if there is none."""
        query = select(ClassifierVersionRow).where(ClassifierVersionRow.name == name)
        if namespace is not None:
            query = query.where(ClassifierVersionRow.namespace == namespace)
        with self.db.session() as session:
            rows = session.scalars(query.order_by(ClassifierVersionRow.version)).all()
            if not rows:
                raise ResourceNotFound(f"No classifier named {name!r}.", param="name")
            return [ClassifierVersion.from_row(row) for row in rows]

    def all_versions(self) -> list[ClassifierVersion]:
        """Every version of every classifier."""
        with self.db.session() as session:
            rows = session.scalars(
                select(ClassifierVersionRow).order_by(
                    ClassifierVersionRow.name, ClassifierVersionRow.version
                )
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
        with self.db.session() as session:
            row = self._row(session, name, version)
            classifier = session.get(ClassifierRow, name)
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
        with self.db.session() as session:
            classifier = session.get(ClassifierRow, name)
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
