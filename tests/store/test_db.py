"""The database: WAL, write transactions that lock before reading, new columns on old tables."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import sqlalchemy
from sqlalchemy import inspect, select

from tympan.store import Database
from tympan.store.jobs import JobRow


def _database(path: Path) -> Database:
    database = Database(f"sqlite:///{path}")
    database.upgrade()
    return database


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    db = _database(tmp_path / "db.sqlite")
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    db.close()


def test_write_sessions_serialise_read_modify_write(any_db: Database) -> None:
    """Eight threads, each read-sleep-write on one row: no increment is lost."""
    db = any_db
    with db.session() as session:
        session.add(JobRow(id="counter", kind="demo", progress=0.0))

    def increment() -> None:
        for _ in range(5):
            with db.write_session() as session:
                row = session.scalar(select(JobRow).where(JobRow.id == "counter").with_for_update())
                seen = row.progress
                time.sleep(0.002)  # widen the window a plain session would lose updates in
                row.progress = seen + 1

    threads = [threading.Thread(target=increment) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with db.session() as session:
        assert session.get(JobRow, "counter").progress == 40


def test_columns_added_by_a_newer_release_are_created(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:  # the jobs table as an older release made it
        connection.exec_driver_sql(
            "CREATE TABLE jobs (id VARCHAR(40) PRIMARY KEY, kind VARCHAR(40), status VARCHAR(16),"
            " owner VARCHAR(300), progress FLOAT, message TEXT, params JSON, result JSON,"
            " error JSON, created_at DATETIME, updated_at DATETIME)"
        )
        connection.exec_driver_sql(
            "INSERT INTO jobs (id, kind, status) VALUES ('j', 'k', 'running')"
        )
    engine.dispose()
    db = _database(path)
    columns = {column["name"] for column in inspect(db.engine).get_columns("jobs")}
    assert "lease_expires_at" in columns
    with db.session() as session:
        assert session.get(JobRow, "j").lease_expires_at is None
    db.close()


def test_columns_added_since_a_table_was_made_are_added_at_start(db: Database) -> None:
    """A database from before namespaces gains the columns, old rows the default."""
    with db.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO classifiers (name, production_history, created_at) "
            "VALUES ('old', '[]', '2026-01-01')"
        )
        connection.exec_driver_sql("ALTER TABLE classifiers DROP COLUMN namespace")
        connection.exec_driver_sql("DROP TABLE alembic_version")  # made before migrations
    db.upgrade()
    with db.engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT name, namespace FROM classifiers").all()
    assert [tuple(row) for row in rows] == [("old", "default")]
    db.upgrade()  # idempotent
