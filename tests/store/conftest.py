"""A fresh SQLite database per test, in its temp folder (``tmp_path / "db.sqlite"``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.store.postgres import fresh_database, postgres_server
from tympan.store.db import Database


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    database.upgrade()
    yield database
    database.close()


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A PostgreSQL server URL template for this session (skips where PostgreSQL is missing)."""
    with postgres_server() as server:
        if server is None:
            pytest.skip("PostgreSQL (initdb, pg_ctl) is not installed")
        yield server


@pytest.fixture
def pg_db(postgres: str) -> Iterator[Database]:
    """A fresh, empty PostgreSQL database with every table."""
    database = Database(fresh_database(postgres))
    database.upgrade()
    yield database
    database.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request: pytest.FixtureRequest) -> Database:
    """The test's database on each backend: SQLite (``db``) and PostgreSQL (``pg_db``)."""
    return request.getfixturevalue("db" if request.param == "sqlite" else "pg_db")


def url_of(database: Database) -> str:
    """The URL another process opens the same database with."""
    return database.engine.url.render_as_string(hide_password=False)
