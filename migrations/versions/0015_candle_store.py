"""the candle store: closed candles per (exchange, market, timeframe) in chunks of packed
columns, keyed for range scans

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mesh.db

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "candle_chunks",
        sa.Column("exchange", sa.String(32), nullable=False),
        sa.Column("market", sa.String(32), nullable=False),
        sa.Column("timeframe", sa.String(8), nullable=False),
        sa.Column("chunk_start", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("open_time", sa.LargeBinary(), nullable=False),
        sa.Column("open", sa.LargeBinary(), nullable=False),
        sa.Column("high", sa.LargeBinary(), nullable=False),
        sa.Column("low", sa.LargeBinary(), nullable=False),
        sa.Column("close", sa.LargeBinary(), nullable=False),
        sa.Column("volume", sa.LargeBinary(), nullable=False),
        sa.Column("covered", sa.LargeBinary(), nullable=False),
        sa.Column("update_time", mesh.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint(
            "exchange", "market", "timeframe", "chunk_start", name=op.f("pk_candle_chunks")
        ),
    )


def downgrade() -> None:
    op.drop_table("candle_chunks")
