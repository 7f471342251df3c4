"""audit chain head: the lock row that serialises audit appends

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 09:15:50.685076
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mesh.db

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("row_hash", mesh.db.FixedBytes(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    # The head starts at the last existing row (none before this revision wrote any), or at
    # the genesis: seq 0 and an all-zero hash.
    last = (
        op.get_bind()
        .execute(sa.text("SELECT seq, row_hash FROM audit_log ORDER BY seq DESC LIMIT 1"))
        .first()
    )
    seq, row_hash = (last[0], bytes(last[1])) if last else (0, bytes(32))
    op.bulk_insert(head, [{"id": 1, "seq": seq, "row_hash": row_hash}])


def downgrade() -> None:
    op.drop_table("audit_head")
