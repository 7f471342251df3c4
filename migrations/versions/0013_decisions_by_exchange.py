"""decisions name their exchange: analysis reads candles per (exchange, market)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every decision recorded before this one was made on the only exchange there was.
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(
            sa.Column("exchange", sa.String(32), nullable=False, server_default="binance")
        )


def downgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("exchange")
