"""The audit chain: concurrent appends never fork it, and any edit is found."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from mesh.audit import AuditLog, verify_chain
from mesh.settings import Settings
from mesh.tables import audit_log


async def _append(engine, audit: AuditLog, i: int) -> int:  # type: ignore[no-untyped-def]
    async with engine.begin() as conn:
        return await audit.append(conn, "test.append", f"res/{i}", {"i": i, "ok": True})


async def test_concurrent_appends_make_one_unbroken_chain(settings: Settings, engine) -> None:  # type: ignore[no-untyped-def]
    audit = AuditLog(settings.api_key_pepper)
    seqs = await asyncio.gather(*(_append(engine, audit, i) for i in range(40)))
    assert len(set(seqs)) == 40
    checked, broken = await verify_chain(engine)
    assert broken is None and checked >= 40


async def test_a_rolled_back_mutation_leaves_no_audit_row(settings: Settings, engine) -> None:  # type: ignore[no-untyped-def]
    audit = AuditLog(settings.api_key_pepper)
    before, _ = await verify_chain(engine)
    try:
        async with engine.begin() as conn:
            await audit.append(conn, "test.rollback", "res/x")
            raise RuntimeError("the mutation failed")
    except RuntimeError:
        pass
    after, broken = await verify_chain(engine)
    assert broken is None and after == before


async def test_editing_one_row_is_detected_and_named(settings: Settings, engine) -> None:  # type: ignore[no-untyped-def]
    audit = AuditLog(settings.api_key_pepper)
    seq = await _append(engine, audit, 999)
    await _append(engine, audit, 1000)
    async with engine.begin() as conn:
        await conn.execute(
            audit_log.update().where(audit_log.c.seq == seq).values(resource="res/forged")
        )
    try:
        _, broken = await verify_chain(engine)
        assert broken is not None and broken.seq == seq
    finally:
        async with engine.begin() as conn:
            await conn.execute(
                audit_log.update().where(audit_log.c.seq == seq).values(resource="res/999")
            )
    assert (await verify_chain(engine))[1] is None


async def test_principals_are_pseudonymised(settings: Settings, engine) -> None:  # type: ignore[no-untyped-def]
    audit = AuditLog(settings.api_key_pepper)
    async with engine.begin() as conn:
        seq = await audit.append(conn, "test.who", "res/p", principal="2vxsx-fae")
    async with engine.connect() as conn:
        stored = (
            await conn.execute(sa.select(audit_log.c.principal).where(audit_log.c.seq == seq))
        ).scalar_one()
    assert stored.startswith("p_") and "2vxsx" not in stored
