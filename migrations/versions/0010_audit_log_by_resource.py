"""audit_log indexed by (resource, action): an order's `order.place` row is appended once,
alongside its send or by the reconciler after a crash, and both look it up first

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 07:30:00
"""

from __future__ import annotations

from alembic import op

import mesh.db  # noqa: F401 - autogenerate renders our column types as mesh.db.*

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_log_resource_action", "audit_log", ["resource", "action"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_resource_action", table_name="audit_log")
