"""change outbox: the subscription-change stream is written through a transactional outbox

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mesh.db  # autogenerate renders our column types as mesh.db.*

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "change_outbox",
        sa.Column(
            "outbox_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("stream", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("create_time", mesh.db.UtcDateTime(), nullable=False),
        sa.Column("publish_time", mesh.db.UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("outbox_id", name=op.f("pk_change_outbox")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("change_outbox") as batch:
        batch.create_index(batch.f("ix_change_outbox_publish_time"), ["publish_time"])


def downgrade() -> None:
    with op.batch_alter_table("change_outbox") as batch:
        batch.drop_index(batch.f("ix_change_outbox_publish_time"))
    op.drop_table("change_outbox")
