"""abuse limits: backtests owned by the acting principal

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mesh.db  # noqa: F401 - autogenerate renders our column types as mesh.db.*

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("backtests") as batch:
        batch.add_column(sa.Column("principal", sa.String(64), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("backtests") as batch:
        batch.drop_column("principal")
