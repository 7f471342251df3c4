"""idempotency records keyed by API key and acting principal, with sealed answers

Existing records are dropped: they cannot be attributed to a principal, and their answers are
plaintext (dashboard tokens among them). Records live 24 h at most; orders carry their own
intent dedupe, so a retry after the upgrade cannot duplicate one.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mesh.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM idempotency_records")
    with op.batch_alter_table("idempotency_records") as batch:
        batch.add_column(sa.Column("principal_hash", mesh.db.FixedBytes(32), nullable=False))
        batch.drop_constraint("uq_idempotency_records_api_key_id_idempotency_key", type_="unique")
        batch.create_unique_constraint(
            "uq_idempotency_records_api_key_id_principal_hash_idempotency_key",
            ["api_key_id", "principal_hash", "idempotency_key"],
        )


def downgrade() -> None:
    op.execute("DELETE FROM idempotency_records")
    with op.batch_alter_table("idempotency_records") as batch:
        batch.drop_constraint(
            "uq_idempotency_records_api_key_id_principal_hash_idempotency_key", type_="unique"
        )
        batch.create_unique_constraint(
            "uq_idempotency_records_api_key_id_idempotency_key",
            ["api_key_id", "idempotency_key"],
        )
        batch.drop_column("principal_hash")
