"""fills unique per order: both sides of a trade between two of our accounts share the
exchange's trade id, so a fill is unique by (order, trade id), not by trade id alone

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 09:44:04.679422
"""

from __future__ import annotations

from alembic import op

import mesh.db  # noqa: F401 - autogenerate renders our column types as mesh.db.*

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trades") as batch:
        batch.drop_constraint("uq_trades_exchange_market_exchange_trade_id", type_="unique")
        batch.create_unique_constraint(
            "uq_trades_order_id_exchange_trade_id", ["order_id", "exchange_trade_id"]
        )
        batch.create_index(
            "ix_trades_exchange_market_exchange_trade_id",
            ["exchange", "market", "exchange_trade_id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("trades") as batch:
        batch.drop_index("ix_trades_exchange_market_exchange_trade_id")
        batch.drop_constraint("uq_trades_order_id_exchange_trade_id", type_="unique")
        batch.create_unique_constraint(
            "uq_trades_exchange_market_exchange_trade_id",
            ["exchange", "market", "exchange_trade_id"],
        )
