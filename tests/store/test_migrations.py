"""Migrations: fresh and pre-migration databases reach the newest revision on both backends."""

from __future__ import annotations

import numpy as np
import sqlalchemy
from sqlalchemy import inspect

from tympan.store.db import Base, Database
from tympan.store.jobs import JobRow
from tympan.store.migrations import (
    current_revision,
    head_revision,
    schema_differences,
    upgrade_schema,
)
from tympan.store.speakers import SpeakerStore
from tympan.tasks.speakers import SampleEmbedding


def test_models_and_migrations_agree(any_db: Database) -> None:
    """Autogenerate finds nothing to change after the migrations ran: they match the models."""
    assert current_revision(any_db.engine) == head_revision()
    assert schema_differences(any_db.engine, Base.metadata) == []


def test_upgrade_is_idempotent(any_db: Database) -> None:
    speaker = SpeakerStore(any_db).create("Ada", "m", [_sample()])
    any_db.upgrade()
    assert SpeakerStore(any_db).get(speaker.id) == speaker


def test_a_database_made_before_migrations_is_adopted(any_db: Database) -> None:
    """Tables made by ``metadata.create_all`` (the pre-Alembic start) minus a later column."""
    url = any_db.engine.url.render_as_string(hide_password=False)
    any_db.close()
    engine = sqlalchemy.create_engine(url)
    Base.metadata.drop_all(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE alembic_version")
    Base.metadata.create_all(engine)  # what Tympan did on start before migrations
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP INDEX ix_jobs_lease_expires_at")
        connection.exec_driver_sql("ALTER TABLE jobs DROP COLUMN lease_expires_at")
    old = Database(url)
    speaker = SpeakerStore(old).create("Grace", "m", [_sample()])
    with old.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO jobs (id, kind, status, owner, progress, message, params, created_at,"
            " updated_at) VALUES ('j', 'k', 'running', '', 0, '', '{}', '2026-01-01',"
            " '2026-01-01')"
        )
    assert current_revision(engine) is None
    upgrade_schema(engine)
    assert current_revision(engine) == head_revision()
    assert "lease_expires_at" in {c["name"] for c in inspect(engine).get_columns("jobs")}
    assert schema_differences(engine, Base.metadata) == []
    assert SpeakerStore(old).get(speaker.id) == speaker
    with old.session() as session:
        assert session.get(JobRow, "j").lease_expires_at is None
    old.close()
    engine.dispose()


def _sample() -> SampleEmbedding:
    vector = np.ones(8, np.float32) / np.sqrt(8)
    return SampleEmbedding(vector, 1.0, "x.wav")
