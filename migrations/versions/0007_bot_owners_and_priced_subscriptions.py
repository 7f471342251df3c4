"""bot owners (author principal); subscriptions bound to a listing and its agreed price

Payments were already unique per (ledger, block_index) since 0001.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mesh.db  # noqa: F401 - autogenerate renders our column types as mesh.db.*

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bots") as batch:
        batch.add_column(
            sa.Column("author_principal", sa.String(64), nullable=False, server_default="")
        )
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(sa.Column("listing_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("price_e8s", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("period_days", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_subscriptions_listing_id"), ["listing_id"], unique=False)
        batch.create_foreign_key(
            batch.f("fk_subscriptions_listing_id_bot_listings"),
            "bot_listings",
            ["listing_id"],
            ["listing_id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_constraint(
            batch.f("fk_subscriptions_listing_id_bot_listings"), type_="foreignkey"
        )
        batch.drop_index(batch.f("ix_subscriptions_listing_id"))
        batch.drop_column("period_days")
        batch.drop_column("price_e8s")
        batch.drop_column("listing_id")
    with op.batch_alter_table("bots") as batch:
        batch.drop_column("author_principal")
