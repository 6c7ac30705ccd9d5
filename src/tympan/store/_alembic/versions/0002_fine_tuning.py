"""Uploaded files, fine-tuning jobs, their events, and the models they publish (issue 19).

Each table is created only when missing: a database whose tables were made from the models
(``metadata.create_all``, as before migrations) already has them.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tympan.store.migrations import create_missing_tables

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = sa.MetaData()
sa.Table(
    "files",
    SCHEMA,
    sa.Column("id", sa.String(length=40), primary_key=True),
    sa.Column("namespace", sa.String(length=64), nullable=False, index=True),
    sa.Column("filename", sa.String(length=300), nullable=False),
    sa.Column("purpose", sa.String(length=32), nullable=False),
    sa.Column("bytes", sa.BigInteger(), nullable=False),
    sa.Column("sha256", sa.String(length=64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Table(
    "fine_tuning_jobs",
    SCHEMA,
    sa.Column("id", sa.String(length=40), primary_key=True),
    sa.Column("namespace", sa.String(length=64), nullable=False, index=True),
    sa.Column("model", sa.String(length=200), nullable=False),
    sa.Column("training_file", sa.String(length=40), nullable=False),
    sa.Column("validation_file", sa.String(length=40), nullable=True),
    sa.Column("suffix", sa.String(length=64), nullable=False),
    sa.Column("seed", sa.Integer(), nullable=False),
    sa.Column("hyperparameters", sa.JSON(), nullable=False),
    sa.Column("options", sa.JSON(), nullable=False),
    sa.Column("phase", sa.String(length=24), nullable=False),
    sa.Column("fine_tuned_model", sa.String(length=200), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Table(
    "fine_tuning_events",
    SCHEMA,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(length=40), nullable=False, index=True),
    sa.Column("level", sa.String(length=8), nullable=False),
    sa.Column("type", sa.String(length=16), nullable=False),
    sa.Column("message", sa.Text(), nullable=False),
    sa.Column("data", sa.JSON(), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Table(
    "fine_tuned_models",
    SCHEMA,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(length=200), nullable=False, index=True),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("namespace", sa.String(length=64), nullable=False),
    sa.Column("base", sa.String(length=200), nullable=False),
    sa.Column("job_id", sa.String(length=40), nullable=False),
    sa.Column("state", sa.String(length=16), nullable=False),
    sa.Column("stage", sa.String(length=16), nullable=False),
    sa.Column("promoted_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("report", sa.JSON(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("name", "version"),
)


def upgrade() -> None:
    create_missing_tables(SCHEMA)


def downgrade() -> None:
    SCHEMA.drop_all(op.get_bind())
