"""Schema migrations (Alembic): every database, SQLite or PostgreSQL, reaches the newest revision.

The revisions live in ``store/_alembic/versions`` and ship inside the package. The first one,
``0001``, is the schema of the first release and adopts a database made before migrations
existed: it creates the tables that are missing and adds the columns an older release lacked,
so an existing SQLite file upgrades in place with its rows.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command, op
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData
from sqlalchemy import inspect as sa_inspect

__all__ = [
    "create_missing_tables",
    "current_revision",
    "head_revision",
    "schema_differences",
    "upgrade_schema",
]

SCRIPTS = Path(__file__).with_name("_alembic")


def _config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    return config


def upgrade_schema(engine: Engine, revision: str = "head") -> None:
    """Apply every migration up to ``revision`` (idempotent: a current database is untouched)."""
    config = _config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def head_revision() -> str:
    """The newest revision this release knows."""
    head = ScriptDirectory(str(SCRIPTS)).get_current_head()
    assert head is not None, "the package ships no migration"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision a database is at (None: never migrated)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def schema_differences(engine: Engine, metadata: MetaData) -> list[object]:
    """What autogenerate would change to make the database match ``metadata`` (empty: agree)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def create_missing_tables(schema: MetaData) -> None:
    """A revision's ``upgrade``: create each of ``schema``'s tables the database lacks (one
    made from the models with ``metadata.create_all``, as before migrations, already has them)."""
    bind = op.get_bind()
    for table in schema.sorted_tables:
        if not sa_inspect(bind).has_table(table.name):
            table.create(bind)
