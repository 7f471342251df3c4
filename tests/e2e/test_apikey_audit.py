"""API-key creation and revocation through AdminService leave audit rows (actor: the admin
key), and the rows hold the key's id and metadata, never the key or its hash."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from cli.admin_client import create_key, revoke_key
from cli.launcher import Mesh
from mesh.audit import verify_chain
from mesh.settings import Settings
from mesh.tables import audit_log


async def test_key_create_and_revoke_are_audited(
    mesh: Mesh, keys: dict[str, str], settings: Settings, engine: Any
) -> None:
    admin = keys["admin"]
    key_id, key = await create_key(settings, admin, "audited reader", ["read"], None)
    await revoke_key(settings, admin, key_id)
    await revoke_key(settings, admin, key_id)  # again: nothing changes, nothing is recorded
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(audit_log).where(audit_log.c.resource == key_id).order_by(audit_log.c.seq)
            )
        ).all()
    assert [r.action for r in rows] == ["apikey.create", "apikey.revoke"]
    assert {r.actor_key_id for r in rows} == {admin.split("_")[1]}
    assert rows[0].detail["name"] == "audited reader" and rows[0].detail["scopes"] == "read"
    secret = key.split("_", 2)[2]
    assert not any(secret in str(r._mapping) for r in rows)
    checked, broken = await verify_chain(engine)
    assert broken is None and checked > 0
