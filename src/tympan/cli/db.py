"""``tympan db``: the schema of the configured database (``TYMPAN_DATABASE_URL``)."""

from __future__ import annotations

import typer

from tympan.cli._common import console
from tympan.config import Settings
from tympan.store.db import Database
from tympan.store.migrations import current_revision, head_revision

__all__ = ["register"]

db_app = typer.Typer(help="Database schema migrations (Alembic).", no_args_is_help=True)


def _database() -> Database:
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Database(settings.resolved_database_url)


@db_app.command()
def upgrade() -> None:
    """Migrate the database to this release's schema (the server also does it on start)."""
    database = _database()
    try:
        before = current_revision(database.engine)
        database.upgrade()
        console.print(f"database at revision {head_revision()} (was {before or 'unversioned'})")
    finally:
        database.close()


@db_app.command()
def current() -> None:
    """Print the database's revision and the newest one this release knows."""
    database = _database()
    try:
        revision = current_revision(database.engine) or "unversioned"
        console.print(f"current {revision}, newest {head_revision()}")
    finally:
        database.close()


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
