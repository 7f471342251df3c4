"""trading_svc keeps its own projection of subscriptions and no longer refers to
credential_svc's table: orders and performance_logs lose their foreign keys into
`subscriptions`, and `subscription_projection` is filled once from it here (afterwards the
change stream and credential_svc's answers keep it).

Revision ID: 0012
Revises: 0010 (re-chained after 0011, the outbox, when merged)
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mesh.db

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_REFERRING = ("orders", "performance_logs")


def upgrade() -> None:
    op.create_table(
        "subscription_projection",
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("credential_id", sa.String(length=64), nullable=False),
        sa.Column("market", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("paid_until", mesh.db.UtcDateTime(), nullable=True),
        sa.Column("version", mesh.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("subscription_id", name=op.f("pk_subscription_projection")),
    )
    # The one time trading_svc's schema reads credential_svc's: existing subscriptions, so
    # the reconciler's filter and the order lock have their rows from the start.
    op.execute(
        "INSERT INTO subscription_projection "
        "(subscription_id, user_id, credential_id, market, state, paid_until, version) "
        "SELECT subscription_id, user_id, credential_id, market, state, paid_until, update_time "
        "FROM subscriptions"
    )
    for table in _REFERRING:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(
                batch.f(f"fk_{table}_subscription_id_subscriptions"), type_="foreignkey"
            )


def downgrade() -> None:
    for table in _REFERRING:
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(
                batch.f(f"fk_{table}_subscription_id_subscriptions"),
                "subscriptions",
                ["subscription_id"],
                ["subscription_id"],
            )
    op.drop_table("subscription_projection")
