"""The service database: SQLAlchemy over SQLite (WAL) by default, PostgreSQL by URL.

Tables live next to the store that owns them (``store/jobs.py``, ``store/speakers.py``, ...),
all on one ``Base``; ``Database.upgrade`` brings the schema to the newest Alembic revision
(``store/migrations.py``), which also adopts a database made before migrations existed.

Read-modify-write goes through ``Database.write_session``: on SQLite it starts with
``BEGIN IMMEDIATE`` (the database's write lock, taken before the first read, so two processes
never both read the old value); on PostgreSQL queries in it lock their rows with
``SELECT ... FOR UPDATE`` (``with_for_update()``, which SQLite ignores).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from tympan.metrics import DATABASE_ERRORS
from tympan.store.migrations import upgrade_schema

__all__ = ["Base", "Database", "as_utc", "utc_now"]


def utc_now() -> datetime:
    """The current time in UTC (what every timestamp column stores)."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A stored timestamp as aware UTC (SQLite gives them back without a zone)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """Declarative base of every Tympan table."""


def _configure_sqlite(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _count_error(context: ExceptionContext) -> None:
    """Every error the driver raises, counted for ``/metrics`` (the exception goes on)."""
    error = context.sqlalchemy_exception or context.original_exception
    DATABASE_ERRORS.labels(type(error).__name__).inc()


class Database:
    """An engine plus a session factory; ``session()`` commits on success, rolls back on error."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        kwargs: dict[str, object] = {"pool_pre_ping": True}
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        self.engine: Engine = create_engine(url, **kwargs)
        if parsed.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _configure_sqlite)
        event.listen(self.engine, "handle_error", _count_error)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def upgrade(self) -> None:
        """Migrate the schema to this release's newest revision (idempotent; adopts old files)."""
        upgrade_schema(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed when the block succeeds, rolled back when it raises."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """A transaction that holds the write lock from its start (SQLite ``BEGIN IMMEDIATE``).

        Use it for read-modify-write; on PostgreSQL select the rows ``with_for_update()``.
        """
        with self.session() as session:
            if self.engine.dialect.name == "sqlite":
                session.execute(text("BEGIN IMMEDIATE"))
            yield session

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()
