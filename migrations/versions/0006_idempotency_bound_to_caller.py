"""idempotency records keyed by API key and acting principal

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 06:00:00
"""

from __future__ import annotations

import mesh.db  # noqa: F401 - autogenerate renders our column types as mesh.db.*

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
