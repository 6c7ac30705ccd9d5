"""Uploaded files (``/v1/files``): one row per file, its bytes in the artifact store.

A file belongs to the namespace of the key that uploaded it; reads given a namespace see only
that namespace's files. The row is written after the bytes are in place (``files/<id>``) and
removed before them, so a listed file always has its bytes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, String, select
from sqlalchemy.orm import Mapped, mapped_column

from tympan.errors import ResourceNotFound
from tympan.store.db import Base, Database, as_utc, utc_now

__all__ = ["FileStore", "StoredFile", "file_key", "new_file_id"]


class FileRow(Base):
    __tablename__ = "files"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    namespace: Mapped[str] = mapped_column(String(64), index=True)
    filename: Mapped[str] = mapped_column(String(300))
    purpose: Mapped[str] = mapped_column(String(32))
    bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file as the API describes it (OpenAI's File object fields plus its checksum)."""

    id: str
    namespace: str
    filename: str
    purpose: str
    bytes: int
    sha256: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: FileRow) -> StoredFile:
        return cls(
            row.id,
            row.namespace,
            row.filename,
            row.purpose,
            row.bytes,
            row.sha256,
            as_utc(row.created_at),
        )


def new_file_id() -> str:
    """A fresh file id in OpenAI's form (``file-`` and 24 hex digits)."""
    return f"file-{uuid.uuid4().hex[:24]}"


def file_key(file_id: str) -> str:
    """Where a file's bytes live in the artifact store."""
    return f"files/{file_id}"


class FileStore:
    """The uploaded files of every namespace, in the service database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, file: StoredFile) -> StoredFile:
        """Record a file whose bytes are already stored under ``file_key(file.id)``."""
        with self.db.session() as session:
            row = FileRow(
                id=file.id,
                namespace=file.namespace,
                filename=file.filename,
                purpose=file.purpose,
                bytes=file.bytes,
                sha256=file.sha256,
                created_at=file.created_at,
            )
            session.add(row)
            session.flush()
            return StoredFile.from_row(row)

    def get(self, file_id: str, namespace: str) -> StoredFile:
        """A file of ``namespace``; ``ResourceNotFound`` (404) if it has none by that id."""
        with self.db.session() as session:
            row = session.get(FileRow, file_id)
            if row is None or row.namespace != namespace:
                raise ResourceNotFound(f"No file with id {file_id!r}.", param="file_id")
            return StoredFile.from_row(row)

    def list(
        self,
        namespace: str,
        purpose: str | None = None,
        limit: int | None = None,
        after: str | None = None,
    ) -> list[StoredFile]:
        """The namespace's files, newest first, optionally of one purpose and after the file
        ``after`` (``ResourceNotFound`` if the namespace has no such file)."""
        query = (
            select(FileRow)
            .where(FileRow.namespace == namespace)
            .order_by(FileRow.created_at.desc(), FileRow.id.desc())
            .limit(limit)
        )
        if purpose is not None:
            query = query.where(FileRow.purpose == purpose)
        with self.db.session() as session:
            if after is not None:
                cursor = session.get(FileRow, after)
                if cursor is None or cursor.namespace != namespace:
                    raise ResourceNotFound(f"No file with id {after!r}.", param="after")
                query = query.where(
                    (FileRow.created_at < cursor.created_at)
                    | ((FileRow.created_at == cursor.created_at) & (FileRow.id < cursor.id))
                )
            return [StoredFile.from_row(row) for row in session.scalars(query)]

    def delete(self, file_id: str, namespace: str) -> StoredFile:
        """Forget a file of ``namespace`` (its bytes are the caller's to remove next)."""
        with self.db.write_session() as session:
            row = session.get(FileRow, file_id, with_for_update=True)
            if row is None or row.namespace != namespace:
                raise ResourceNotFound(f"No file with id {file_id!r}.", param="file_id")
            deleted = StoredFile.from_row(row)
            session.delete(row)
            return deleted
