"""bot ownership; subscriptions bound to a priced listing; payments unique per ledger block

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 06:00:00
"""

from __future__ import annotations

import mesh.db  # noqa: F401 - autogenerate renders our column types as mesh.db.*

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
