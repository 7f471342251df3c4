"""The subscription projection's rules on SQLite (the `make run` default; MariaDB is covered
through the follower in tests/e2e/test_projection_follows_stream.py): newest version wins,
equal versions change nothing, stream entries parse into rows (time standing in for a
missing version), and the reconciler's pre-filter picks ACTIVE, paid-up rows only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mesh.db import make_engine
from tests.support import alembic
from trading_svc.orders.projection import Projected, ProjectionStore, from_entry, may_be_trading
from trading_svc.tables import subscription_projection

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
ROW = Projected("sub_1", "usr_1", "cred_1", "BTC-USDT", "ACTIVE", None, T0)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'botmesh.db'}"
    migrated = alembic(url, "upgrade", "head")
    assert migrated.returncode == 0, migrated.stderr
    made = make_engine(url)
    yield made
    await made.dispose()


async def test_newest_version_wins_and_replays_change_nothing(engine: AsyncEngine) -> None:
    store = ProjectionStore(engine)
    paused = replace(ROW, state="PAUSED", version=T0 + timedelta(microseconds=1))
    await store.apply(paused)
    await store.apply(ROW)  # older, arriving late
    assert await store.get("sub_1") == paused
    await store.apply(replace(paused, state="CANCELED"))  # same version: not newer
    assert await store.get("sub_1") == paused
    resumed = replace(ROW, version=T0 + timedelta(seconds=1), paid_until=T0 + timedelta(days=1))
    await store.apply(resumed)
    await store.apply(resumed)
    assert await store.get("sub_1") == resumed


async def test_entries_become_rows() -> None:
    fields = {
        "subscription_id": "sub_1",
        "user_id": "usr_1",
        "credential_id": "cred_1",
        "market": "BTC-USDT",
        "state": "ACTIVE",
        "paid_until": "",
        "time": (T0 + timedelta(seconds=2)).isoformat(),
    }
    assert from_entry({**fields, "version": T0.isoformat()}) == ROW
    assert from_entry(fields) == replace(ROW, version=T0 + timedelta(seconds=2))
    assert from_entry({**fields, "paid_until": "2026-12-31T00:00:00"}) == replace(
        ROW, version=T0 + timedelta(seconds=2), paid_until=datetime(2026, 12, 31, tzinfo=UTC)
    )
    assert from_entry({k: v for k, v in fields.items() if k != "state"}) is None
    assert from_entry({**fields, "time": ""}) is None


async def test_the_prefilter_takes_active_paid_up_rows(engine: AsyncEngine) -> None:
    store = ProjectionStore(engine)
    rows = {
        "open": replace(ROW, subscription_id="open"),
        "paid": replace(ROW, subscription_id="paid", paid_until=T0 + timedelta(hours=1)),
        "ran_out": replace(ROW, subscription_id="ran_out", paid_until=T0 - timedelta(hours=1)),
        "paused": replace(ROW, subscription_id="paused", state="PAUSED"),
    }
    for row in rows.values():
        await store.apply(row)
    async with engine.connect() as conn:
        found = await conn.execute(
            sa.select(subscription_projection.c.subscription_id).where(may_be_trading(T0))
        )
        assert set(found.scalars()) == {"open", "paid"}
