"""Stored glossaries: the names and terms an ASR model should favour, per namespace and model.

A glossary is one row: the words as a JSON list, replaced whole on every write. The store keeps
the list as given; checking it (how many entries, how long) is the task's job.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from tympan.errors import ResourceNotFound
from tympan.store.db import Base, Database, utc_now

__all__ = ["GlossaryStore"]


class GlossaryRow(Base):
    __tablename__ = "asr_glossaries"

    namespace: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    words: Mapped[list[str]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class GlossaryStore:
    """Every namespace's glossaries, in the service database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, namespace: str, model: str) -> list[str]:
        """The words of ``model``'s glossary in ``namespace``; empty when it has none."""
        with self.db.session() as session:
            row = session.get(GlossaryRow, (namespace, model))
            return list(row.words) if row is not None else []

    def put(self, namespace: str, model: str, words: list[str]) -> None:
        """Replace ``model``'s glossary in ``namespace`` with ``words``."""
        with self.db.write_session() as session:
            row = session.get(GlossaryRow, (namespace, model), with_for_update=True)
            if row is None:
                session.add(GlossaryRow(namespace=namespace, model=model, words=words))
            else:
                row.words, row.updated_at = words, utc_now()

    def delete(self, namespace: str, model: str) -> None:
        """Forget ``model``'s glossary; ``ResourceNotFound`` (404) when it has none."""
        with self.db.write_session() as session:
            row = session.get(GlossaryRow, (namespace, model), with_for_update=True)
            if row is None:
                raise ResourceNotFound(f"Model {model!r} has no glossary.", param="model")
            session.delete(row)
