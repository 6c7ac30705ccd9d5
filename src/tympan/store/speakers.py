"""Enrolled speakers: a profile per person, the embeddings of their samples, one voiceprint.

A speaker's voiceprint is the L2-normalised mean of its sample embeddings; the row keeps the
running sum, so adding samples updates it without re-reading the old ones. No audio is kept,
only embeddings. Deleting a speaker removes its samples with it, and on SQLite the freed pages
are zeroed (``secure_delete``) and the WAL is checkpointed, so the voiceprint bytes do not
linger in the database files.

Identification reads every voiceprint of a model as one matrix (``Voiceprints``), built once
and rebuilt only when the table changes (checked with one aggregate query per request); scoring
against it lives in ``tympan.tasks.speakers``.
"""

from __future__ import annotations

import threading
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from tympan.config import DEFAULT_NAMESPACE
from tympan.errors import Conflict, InvalidParameter, ResourceNotFound
from tympan.store.db import Base, Database

__all__ = ["SampleEmbedding", "Speaker", "SpeakerStore", "Voiceprints", "speaker_store"]


@dataclass(frozen=True, slots=True)
class SampleEmbedding:
    """One enrollment recording, reduced to what is stored: its embedding, length and name."""

    embedding: np.ndarray
    duration: float
    filename: str | None = None


@dataclass(frozen=True, slots=True)
class Speaker:
    """An enrolled speaker as clients see it (the voiceprint itself stays in the store)."""

    id: str
    name: str
    model: str
    num_samples: int
    speech_seconds: float
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Voiceprints:
    """The unit-length voiceprints of enrolled speakers as one ``(speakers, dim)`` matrix."""

    ids: list[str]
    names: list[str]
    matrix: np.ndarray


MAX_NAME_LENGTH = 200
NAME_KEY_LENGTH = 3 * MAX_NAME_LENGTH  # str.casefold turns one character into at most 3


def _now() -> datetime:
    return datetime.now(UTC)


class SpeakerRow(Base):
    __tablename__ = "speakers"
    __table_args__ = (UniqueConstraint("namespace", "name_key"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    namespace: Mapped[str] = mapped_column(
        String(64), default=DEFAULT_NAMESPACE, server_default=DEFAULT_NAMESPACE, index=True
    )
    name: Mapped[str] = mapped_column(String(MAX_NAME_LENGTH))
    name_key: Mapped[str] = mapped_column(String(NAME_KEY_LENGTH))
    model: Mapped[str] = mapped_column(String(200), index=True)
    dim: Mapped[int] = mapped_column(Integer)
    embedding_sum: Mapped[bytes] = mapped_column(LargeBinary)
    voiceprint: Mapped[bytes] = mapped_column(LargeBinary)
    num_samples: Mapped[int] = mapped_column(Integer, default=0)
    speech_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    samples: Mapped[list[SpeakerSampleRow]] = relationship(
        back_populates="speaker", cascade="all, delete-orphan", passive_deletes=True
    )


class SpeakerSampleRow(Base):
    __tablename__ = "speaker_samples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    speaker_id: Mapped[str] = mapped_column(
        ForeignKey("speakers.id", ondelete="CASCADE"), index=True
    )
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    duration: Mapped[float] = mapped_column(Float)
    filename: Mapped[str | None] = mapped_column(Text, nullable=True)  # any upload's name
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    speaker: Mapped[SpeakerRow] = relationship(back_populates="samples")


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite drops the zone


def _speaker(row: SpeakerRow) -> Speaker:
    return Speaker(
        row.id,
        row.name,
        row.model,
        row.num_samples,
        round(row.speech_seconds, 3),
        dict(row.meta or {}),
        _utc(row.created_at),
        _utc(row.updated_at),
    )


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidParameter(
            f"name must be 1 to {MAX_NAME_LENGTH} characters (not only spaces).", param="name"
        )
    return name


def _unit(total: np.ndarray) -> np.ndarray:
    """The voiceprint of a running sum: its direction (the store keeps voiceprints unit-length,
    so scoring in ``tympan.tasks.speakers`` is a dot product)."""
    return (total / max(float(np.linalg.norm(total)), 1e-12)).astype(np.float32)


def _sum(samples: Sequence[SampleEmbedding]) -> np.ndarray:
    return np.sum([s.embedding for s in samples], axis=0, dtype=np.float64).astype(np.float32)


class SpeakerStore:
    """Create, extend, read and delete enrolled speakers; serve their voiceprints as a matrix."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._indexes: dict[tuple[str, str], tuple[tuple[Any, ...], Voiceprints]] = {}

    def _row(
        self, session: Session, speaker_id: str, namespace: str, for_update: bool = False
    ) -> SpeakerRow:
        row = session.get(SpeakerRow, speaker_id, with_for_update=for_update)
        if row is None or row.namespace != namespace:  # another namespace's is unknown here
            raise ResourceNotFound(f"No speaker with id {speaker_id!r}.", param="speaker_id")
        return row

    def create(
        self,
        name: str,
        model: str,
        samples: Sequence[SampleEmbedding],
        metadata: dict[str, Any] | None = None,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> Speaker:
        """Enroll a new speaker from at least one sample; ``Conflict`` (409) if the name is taken.

        Names are unique ignoring case within a namespace, so results that name a speaker are
        never ambiguous.
        """
        name = _check_name(name)
        total = _sum(samples)
        row = SpeakerRow(
            id=f"spk_{uuid.uuid4().hex[:24]}",
            namespace=namespace,
            name=name,
            name_key=name.casefold(),
            model=model,
            dim=int(total.shape[0]),
            embedding_sum=total.tobytes(),
            voiceprint=_unit(total).tobytes(),
            num_samples=len(samples),
            speech_seconds=float(sum(s.duration for s in samples)),
            meta=metadata or {},
            samples=[
                SpeakerSampleRow(
                    embedding=s.embedding.astype(np.float32).tobytes(),
                    duration=s.duration,
                    filename=s.filename,
                )
                for s in samples
            ],
        )
        try:
            with self.db.session() as session:
                taken = select(SpeakerRow.id).where(
                    SpeakerRow.namespace == namespace, SpeakerRow.name_key == row.name_key
                )
                if session.scalar(taken):
                    raise Conflict(f"A speaker named {name!r} already exists.", param="name")
                session.add(row)
        except IntegrityError as exc:  # a concurrent enrollment took the name first
            raise Conflict(f"A speaker named {name!r} already exists.", param="name") from exc
        return self.get(row.id, namespace)

    def add_samples(
        self,
        speaker_id: str,
        samples: Sequence[SampleEmbedding],
        namespace: str = DEFAULT_NAMESPACE,
    ) -> Speaker:
        """Add samples and update the voiceprint incrementally (running sum, renormalised).

        The read of the running sum and its write are one locked transaction, so samples added
        at the same time by two requests or processes are both counted.
        """
        with self.db.write_session() as session:
            row = self._row(session, speaker_id, namespace, for_update=True)
            total = np.frombuffer(row.embedding_sum, np.float32) + _sum(samples)
            row.embedding_sum = total.astype(np.float32).tobytes()
            row.voiceprint = _unit(total).tobytes()
            row.num_samples += len(samples)
            row.speech_seconds += float(sum(s.duration for s in samples))
            row.updated_at = _now()
            for sample in samples:
                row.samples.append(
                    SpeakerSampleRow(
                        embedding=sample.embedding.astype(np.float32).tobytes(),
                        duration=sample.duration,
                        filename=sample.filename,
                    )
                )
            return _speaker(row)

    def update(
        self,
        speaker_id: str,
        name: str | None = None,
        metadata: dict[str, Any] | None = None,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> Speaker:
        """Rename a speaker and/or replace its metadata; ``Conflict`` (409) if the new name is
        another speaker's. Its voiceprint is untouched."""
        try:
            with self.db.write_session() as session:
                row = self._row(session, speaker_id, namespace, for_update=True)
                if name is not None:
                    name = _check_name(name)
                    taken = select(SpeakerRow.id).where(
                        SpeakerRow.namespace == namespace,
                        SpeakerRow.name_key == name.casefold(),
                        SpeakerRow.id != speaker_id,
                    )
                    if session.scalar(taken):
                        raise Conflict(f"A speaker named {name!r} already exists.", param="name")
                    row.name, row.name_key = name, name.casefold()
                if metadata is not None:
                    row.meta = metadata
                row.updated_at = _now()
                return _speaker(row)
        except IntegrityError as exc:  # a concurrent enrollment or rename took the name first
            raise Conflict(f"A speaker named {name!r} already exists.", param="name") from exc

    def get(self, speaker_id: str, namespace: str = DEFAULT_NAMESPACE) -> Speaker:
        """One speaker of ``namespace``; ``ResourceNotFound`` (404) if unknown there."""
        with self.db.session() as session:
            return _speaker(self._row(session, speaker_id, namespace))

    def model_of(self, speaker_id: str, namespace: str = DEFAULT_NAMESPACE) -> str:
        """The model a speaker's voiceprint was computed with."""
        return self.get(speaker_id, namespace).model

    def voiceprint(self, speaker_id: str, namespace: str = DEFAULT_NAMESPACE) -> np.ndarray:
        """A speaker's normalised voiceprint."""
        with self.db.session() as session:
            row = self._row(session, speaker_id, namespace)
            return np.frombuffer(row.voiceprint, np.float32).copy()

    def list(self, namespace: str = DEFAULT_NAMESPACE) -> list[Speaker]:
        """Every speaker of ``namespace``, oldest first."""
        with self.db.session() as session:
            rows = session.scalars(
                select(SpeakerRow)
                .where(SpeakerRow.namespace == namespace)
                .order_by(SpeakerRow.created_at)
            )
            return [_speaker(row) for row in rows]

    def delete(self, speaker_id: str, namespace: str = DEFAULT_NAMESPACE) -> None:
        """Remove a speaker, its samples and voiceprint, leaving no copy in the database files."""
        sqlite = self.db.engine.dialect.name == "sqlite"
        with self.db.session() as session:
            if sqlite:
                session.execute(text("PRAGMA secure_delete = ON"))
            session.delete(self._row(session, speaker_id, namespace))
        if sqlite:
            with self.db.engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def index(
        self,
        model: str,
        speaker_ids: Sequence[str] | None = None,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> Voiceprints:
        """Voiceprints of ``model``'s speakers in ``namespace`` (or of the given ids: 404 if
        one is unknown there)."""
        index = self._model_index(model, namespace)
        if speaker_ids is None:
            return index
        with self.db.session() as session:
            for speaker_id in speaker_ids:
                row = self._row(session, speaker_id, namespace)
                if row.model != model:
                    raise InvalidParameter(
                        f"Speaker {speaker_id!r} was enrolled with model {row.model!r}, "
                        f"not {model!r}.",
                        param="speaker_ids",
                    )
        position = {speaker_id: i for i, speaker_id in enumerate(index.ids)}
        if not set(speaker_ids) <= position.keys():  # enrolled since the index was read
            index = self._model_index(model, namespace)
            position = {speaker_id: i for i, speaker_id in enumerate(index.ids)}
        chosen = [position[i] for i in dict.fromkeys(speaker_ids) if i in position]
        return Voiceprints(
            [index.ids[i] for i in chosen], [index.names[i] for i in chosen], index.matrix[chosen]
        )

    def _model_index(self, model: str, namespace: str) -> Voiceprints:
        mine = (SpeakerRow.model == model, SpeakerRow.namespace == namespace)
        with self.db.session() as session:
            version = tuple(
                session.execute(
                    select(func.count(SpeakerRow.id), func.max(SpeakerRow.updated_at)).where(*mine)
                ).one()
            )
            with self._lock:
                cached = self._indexes.get((namespace, model))
            if cached is not None and cached[0] == version:
                return cached[1]
            rows = session.execute(
                select(SpeakerRow.id, SpeakerRow.name, SpeakerRow.voiceprint)
                .where(*mine)
                .order_by(SpeakerRow.created_at)
            ).all()
        matrix = (
            np.stack([np.frombuffer(row.voiceprint, np.float32) for row in rows])
            if rows
            else np.zeros((0, 0), np.float32)
        )
        index = Voiceprints([row.id for row in rows], [row.name for row in rows], matrix)
        with self._lock:
            self._indexes[(namespace, model)] = (version, index)
        return index


_STORES: weakref.WeakKeyDictionary[Database, SpeakerStore] = weakref.WeakKeyDictionary()
_STORES_LOCK = threading.Lock()


def speaker_store(db: Database) -> SpeakerStore:
    """The one ``SpeakerStore`` of a database (so its voiceprint cache is shared)."""
    with _STORES_LOCK:
        store = _STORES.get(db)
        if store is None:
            store = _STORES[db] = SpeakerStore(db)
        return store
