"""abuse limits: backtests owned by the acting principal

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 06:00:00
"""

from __future__ import annotations

import mesh.db  # noqa: F401 - autogenerate renders our column types as mesh.db.*

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
