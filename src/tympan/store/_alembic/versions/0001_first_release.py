"""The schema of the first release; adopts a database made before migrations existed.

A database from a Tympan without Alembic has some of these tables, maybe lacking columns a later
release added (each such column is nullable or has a server default). Missing tables are
created, missing columns and indexes added, existing rows kept.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = sa.MetaData()
sa.Table(
    "classifier_versions",
    SCHEMA,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(length=64), nullable=False, index=True),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("arch", sa.String(length=32), nullable=False),
    sa.Column("stage", sa.String(length=16), nullable=False),
    sa.Column("labels", sa.JSON(), nullable=False),
    sa.Column("metrics", sa.JSON(), nullable=False),
    sa.Column("config", sa.JSON(), nullable=False),
    sa.Column("dataset_fingerprint", sa.String(length=64), nullable=False),
    sa.Column("artifacts", sa.JSON(), nullable=False),
    sa.Column("parent_version", sa.Integer(), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("name", "version"),
)
sa.Table(
    "classifiers",
    SCHEMA,
    sa.Column("name", sa.String(length=64), primary_key=True),
    sa.Column("namespace", sa.String(length=64), server_default="default", nullable=False),
    sa.Column("production_history", sa.JSON(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Table(
    "jobs",
    SCHEMA,
    sa.Column("id", sa.String(length=40), primary_key=True),
    sa.Column("kind", sa.String(length=40), nullable=False, index=True),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("owner", sa.String(length=300), nullable=False),
    sa.Column("progress", sa.Float(), nullable=False),
    sa.Column("message", sa.Text(), nullable=False),
    sa.Column("params", sa.JSON(), nullable=False),
    sa.Column("result", sa.JSON(), nullable=True),
    sa.Column("error", sa.JSON(), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True, index=True),
)
sa.Table(
    "speakers",
    SCHEMA,
    sa.Column("id", sa.String(length=40), primary_key=True),
    sa.Column(
        "namespace", sa.String(length=64), server_default="default", nullable=False, index=True
    ),
    sa.Column("name", sa.String(length=200), nullable=False),
    sa.Column("name_key", sa.String(length=600), nullable=False),
    sa.Column("model", sa.String(length=200), nullable=False, index=True),
    sa.Column("dim", sa.Integer(), nullable=False),
    sa.Column("embedding_sum", sa.LargeBinary(), nullable=False),
    sa.Column("voiceprint", sa.LargeBinary(), nullable=False),
    sa.Column("num_samples", sa.Integer(), nullable=False),
    sa.Column("speech_seconds", sa.Float(), nullable=False),
    sa.Column("meta", sa.JSON(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("namespace", "name_key"),
)
sa.Table(
    "speaker_samples",
    SCHEMA,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column(
        "speaker_id",
        sa.String(length=40),
        sa.ForeignKey("speakers.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("embedding", sa.LargeBinary(), nullable=False),
    sa.Column("duration", sa.Float(), nullable=False),
    sa.Column("filename", sa.Text(), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


def _adopt(table: sa.Table) -> None:
    """Add the columns, then the indexes, an existing (pre-migration) table lacks."""
    bind = op.get_bind()
    columns = {column["name"] for column in sa.inspect(bind).get_columns(table.name)}
    missing = [column for column in table.columns if column.name not in columns]
    if missing:
        with op.batch_alter_table(table.name) as batch:
            for column in missing:
                batch.add_column(column._copy())
    indexes = {index["name"] for index in sa.inspect(bind).get_indexes(table.name)}
    for index in table.indexes:
        if index.name not in indexes:
            op.create_index(index.name, table.name, [c.name for c in index.columns])


def upgrade() -> None:
    bind = op.get_bind()
    for table in SCHEMA.sorted_tables:
        if sa.inspect(bind).has_table(table.name):
            _adopt(table)
        else:
            table.create(bind)


def downgrade() -> None:
    SCHEMA.drop_all(op.get_bind())
