"""Alembic's entry point: migrate the connection ``tympan.store.migrations`` hands over."""

from __future__ import annotations

from alembic import context

from tympan._discovery import iter_submodules
from tympan.store.db import Base

list(iter_submodules("tympan.store"))  # importing a store module declares its tables

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
