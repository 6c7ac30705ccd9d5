"""Stored ASR glossaries, per namespace and model (issue 19).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tympan.store.migrations import create_missing_tables

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = sa.MetaData()
sa.Table(
    "asr_glossaries",
    SCHEMA,
    sa.Column("namespace", sa.String(length=64), primary_key=True),
    sa.Column("model", sa.String(length=200), primary_key=True),
    sa.Column("words", sa.JSON(), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


def upgrade() -> None:
    create_missing_tables(SCHEMA)


def downgrade() -> None:
    SCHEMA.drop_all(op.get_bind())
