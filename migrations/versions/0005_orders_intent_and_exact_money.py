"""orders: the request intent a row answers, the signing time, exact money on SQLite

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mesh.db  # our column types (autogenerate renders them as mesh.db.*)

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Every money column (mesh.db.Money): DECIMAL on MySQL already; on SQLite they move from
# NUMERIC (float affinity) to text, so amounts read back exactly as written.
MONEY_COLUMNS = {
    "subscriptions": ("allocation",),
    "orders": ("quantity", "price", "filled_quantity", "average_price", "fee"),
    "trades": ("price", "quantity", "fee"),
    "performance_logs": ("equity", "realized_pnl", "unrealized_pnl", "position"),
}
NULLABLE = {("orders", "price"), ("orders", "average_price")}


def _money_columns(to_text: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    numeric = sa.Numeric(precision=36, scale=18)
    text = sa.String(length=mesh.db.MONEY_TEXT_LENGTH)
    for table, columns in MONEY_COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.alter_column(
                    column,
                    existing_type=numeric if to_text else text,
                    type_=text if to_text else numeric,
                    existing_nullable=(table, column) in NULLABLE,
                )


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("intent_key", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("signed_time", mesh.db.UtcDateTime(), nullable=True))
        batch.create_unique_constraint(
            "uq_orders_subscription_id_intent_key", ["subscription_id", "intent_key"]
        )
    _money_columns(to_text=True)


def downgrade() -> None:
    _money_columns(to_text=False)
    with op.batch_alter_table("orders") as batch:
        batch.drop_constraint("uq_orders_subscription_id_intent_key", type_="unique")
        batch.drop_column("signed_time")
        batch.drop_column("intent_key")
