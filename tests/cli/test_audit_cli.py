"""`botmesh audit verify` finds an edited row; mutations through the mesh append to the chain."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import sqlalchemy as sa

from cli.launcher import Mesh
from mesh.tables import audit_log


def _verify() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "audit", "verify"],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_audit_verify_reports_the_first_broken_link(
    mesh: Mesh, keys: dict[str, str], engine
) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=mesh.rest_url) as rest:
        resp = await rest.post(
            "/v1/bots",
            json={"name": "audited", "strategy": "rsi", "markets": ["BTC-USDT"], "timeframe": "1h"},
            headers={"x-api-key": keys["bots:write"]},
        )
    bot_id = resp.json()["bot"]["bot_id"]
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(audit_log).where(audit_log.c.resource == bot_id))).one()
    assert row.action == "bot.create" and row.actor_key_id == keys["bots:write"].split("_")[1]
    ok = _verify()
    assert ok.returncode == 0 and "intact" in ok.stdout, ok.stdout + ok.stderr
    async with engine.begin() as conn:
        await conn.execute(
            audit_log.update().where(audit_log.c.seq == row.seq).values(action="bot.delete")
        )
    try:
        broken = _verify()
        assert broken.returncode == 1
        assert f"broken at seq {row.seq}" in broken.stdout
    finally:
        async with engine.begin() as conn:
            await conn.execute(
                audit_log.update().where(audit_log.c.seq == row.seq).values(action="bot.create")
            )
    assert _verify().returncode == 0
