"""the bot runtime: decisions per (subscription, candle), runtime state, stream cursors,
the projection's schedule columns, fuller performance snapshots, and bot stakes

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mesh.db

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bot_decisions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True),
        sa.Column("subscription_id", sa.String(64), nullable=False),
        sa.Column("candle_time", mesh.db.UtcDateTime(), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("claimed_by", sa.String(64), nullable=False),
        sa.Column("claim_time", mesh.db.UtcDateTime(), nullable=False),
        sa.Column("complete_time", mesh.db.UtcDateTime(), nullable=True),
        sa.Column("action", sa.String(8), nullable=False, server_default=""),
        sa.Column("confidence", sa.Float(), nullable=False, server_default="0"),
        sa.Column("rationale", sa.String(512), nullable=False, server_default=""),
        sa.Column("advisor", sa.String(64), nullable=False, server_default=""),
        sa.Column("outcome", sa.String(16), nullable=False, server_default=""),
        sa.Column("reason", sa.String(64), nullable=False, server_default=""),
        sa.Column("order_id", sa.String(64), nullable=True),
        sa.Column("side", sa.String(4), nullable=False, server_default=""),
        sa.Column("quantity", mesh.db.Money(), nullable=True),
        sa.Column("price", mesh.db.Money(), nullable=True),
        sa.Column("risk_rule", sa.String(32), nullable=False, server_default=""),
        sa.Column("risk_outcome", sa.String(16), nullable=False, server_default=""),
        sa.Column("risk_message", sa.String(255), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bot_decisions")),
        sa.UniqueConstraint(
            "subscription_id",
            "candle_time",
            name=op.f("uq_bot_decisions_subscription_id_candle_time"),
        ),
    )
    op.create_table(
        "bot_runtime",
        sa.Column("subscription_id", sa.String(64), nullable=False),
        sa.Column("halted_reason", sa.String(32), nullable=False, server_default=""),
        sa.Column("halted_message", sa.String(255), nullable=False, server_default=""),
        sa.Column("halted_until", mesh.db.UtcDateTime(), nullable=True),
        sa.Column("peak_equity", mesh.db.Money(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("backoff_until", mesh.db.UtcDateTime(), nullable=True),
        sa.Column("last_tick_time", mesh.db.UtcDateTime(), nullable=True),
        sa.Column("next_tick_time", mesh.db.UtcDateTime(), nullable=True),
        sa.Column("last_snapshot_time", mesh.db.UtcDateTime(), nullable=True),
        sa.Column("update_time", mesh.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("subscription_id", name=op.f("pk_bot_runtime")),
    )
    op.create_table(
        "stream_cursors",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("last_id", sa.String(48), nullable=False),
        sa.Column("update_time", mesh.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_stream_cursors")),
    )
    with op.batch_alter_table("subscription_projection") as batch:
        batch.add_column(sa.Column("exchange", sa.String(32), nullable=True))
        batch.add_column(sa.Column("timeframe", sa.String(8), nullable=True))
    with op.batch_alter_table("performance_logs") as batch:
        batch.add_column(sa.Column("fees", mesh.db.Money(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("exposure", mesh.db.Money(), nullable=False, server_default="0"))
    with op.batch_alter_table("bots") as batch:
        batch.add_column(sa.Column("stake", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bots") as batch:
        batch.drop_column("stake")
    with op.batch_alter_table("performance_logs") as batch:
        batch.drop_column("exposure")
        batch.drop_column("fees")
    with op.batch_alter_table("subscription_projection") as batch:
        batch.drop_column("timeframe")
        batch.drop_column("exchange")
    op.drop_table("stream_cursors")
    op.drop_table("bot_runtime")
    op.drop_table("bot_decisions")
