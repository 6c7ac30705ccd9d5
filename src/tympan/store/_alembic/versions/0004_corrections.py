"""ASR corrections: clips with their corrected transcripts, for continued fine-tuning.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tympan.store.migrations import create_missing_tables

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = sa.MetaData()
sa.Table(
    "asr_corrections",
    SCHEMA,
    sa.Column("id", sa.String(length=40), primary_key=True),
    sa.Column("namespace", sa.String(length=64), nullable=False, index=True),
    sa.Column("model", sa.String(length=200), nullable=False, index=True),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("speaker", sa.String(length=200), nullable=True),
    sa.Column("seconds", sa.Float(), nullable=False),
    sa.Column("job_id", sa.String(length=40), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


def upgrade() -> None:
    create_missing_tables(SCHEMA)


def downgrade() -> None:
    SCHEMA.drop_all(op.get_bind())
