"""A fresh SQLite database per test, in its temp folder (``tmp_path / "db.sqlite"``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tympan.store.db import Database


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    database.create_all()
    yield database
    database.close()
