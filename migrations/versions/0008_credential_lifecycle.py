"""credential lifecycle: why a subscription stopped

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mesh.db  # noqa: F401 - autogenerate renders our column types as mesh.db.*

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(
            sa.Column("state_reason", sa.String(32), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("suspended_from", sa.String(16), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("suspended_from")
        batch.drop_column("state_reason")
