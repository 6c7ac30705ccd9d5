"""``tympan db``: upgrade an unversioned SQLite file in place, report the revision."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy
from typer.testing import CliRunner

from tympan.cli import app
from tympan.store.db import Base
from tympan.store.migrations import current_revision, head_revision

runner = CliRunner()


def test_db_upgrade_adopts_an_unversioned_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'tympan.db'}"
    engine = sqlalchemy.create_engine(url)
    Base.metadata.create_all(engine)  # a database as Tympan made it before migrations
    monkeypatch.setenv("TYMPAN_DATABASE_URL", url)
    monkeypatch.setenv("TYMPAN_DATA_DIR", str(tmp_path))
    before = runner.invoke(app, ["db", "current"])
    assert before.exit_code == 0 and "current unversioned" in before.stdout
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert f"revision {head_revision()} (was unversioned)" in result.stdout
    assert current_revision(engine) == head_revision()
    engine.dispose()
