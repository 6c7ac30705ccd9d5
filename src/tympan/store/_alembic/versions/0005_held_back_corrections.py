"""Corrections remember which ones a job held back, so later jobs are judged on all of them.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``held_back`` unless the table was made with it (``metadata.create_all``)."""
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("asr_corrections")}
    if "held_back" not in columns:
        with op.batch_alter_table("asr_corrections") as batch:
            batch.add_column(
                sa.Column("held_back", sa.Boolean(), nullable=False, server_default=sa.false())
            )


def downgrade() -> None:
    with op.batch_alter_table("asr_corrections") as batch:
        batch.drop_column("held_back")
