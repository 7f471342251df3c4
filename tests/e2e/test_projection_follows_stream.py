"""trading_svc's projection of subscriptions follows the change stream (issue 9): the mesh's
own trading_svc reads entries written to the run's Redis in the stream's contract and keeps
the newest version of each subscription in MariaDB. Replayed and out-of-order entries do not
move a row back; an entry without `version` (written before the outbox) counts by its
`time`. A second subscription's entry, written last, shows when the follower has read all."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from mesh.changes import SUBSCRIPTION_CHANGES
from mesh.ids import new_id
from mesh.redis import make_redis
from mesh.settings import Settings
from trading_svc.orders.projection import Projected, ProjectionStore

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def entry(sid: str, state: str, version: datetime | None, **more: str) -> dict[str, str]:
    fields = {
        "subscription_id": sid,
        "user_id": "usr_projection",
        "bot_id": "bot_projection",
        "credential_id": "cred_projection",
        "market": "BTC-USDT",
        "state": state,
        "state_reason": "",
        "paid_until": (T0 + timedelta(days=30)).isoformat(),
        "change": state.lower(),
        "time": datetime.now(UTC).isoformat(),
        "outbox_id": new_id("obx"),
        **more,
    }
    if version is not None:
        fields["version"] = version.isoformat()
    return fields


async def _followed(store: ProjectionStore, settings: Settings, *entries: dict[str, str]) -> None:
    """Writes the entries, then a marker of its own, and waits for the marker's row: the
    follower reads in order, so every entry before it was applied."""
    marker = new_id("sub")
    redis = make_redis(settings.redis_url)
    try:
        for fields in (*entries, entry(marker, "ACTIVE", T0)):
            await redis.xadd(SUBSCRIPTION_CHANGES, fields)  # type: ignore[arg-type]
    finally:
        await redis.aclose()
    for _ in range(200):
        if await store.get(marker) is not None:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the follower did not reach the marker")


async def test_newest_version_wins_whatever_the_order_of_entries(
    settings: Settings,
    engine,  # type: ignore[no-untyped-def]
    mesh,  # type: ignore[no-untyped-def]
) -> None:
    store = ProjectionStore(engine)
    sid = new_id("sub")
    v1, v2, v3 = T0, T0 + timedelta(microseconds=1), T0 + timedelta(seconds=5)

    await _followed(store, settings, entry(sid, "PAUSED", v2))
    paused = await store.get(sid)
    assert paused == Projected(
        sid, "usr_projection", "cred_projection", "BTC-USDT", "PAUSED", T0 + timedelta(days=30), v2
    )
    # Out of order (v1 after v2), then v2 replayed with other content: nothing moves.
    await _followed(
        store, settings, entry(sid, "ACTIVE", v1), entry(sid, "CANCELED", v2, market="X-Y")
    )
    assert await store.get(sid) == paused
    await _followed(store, settings, entry(sid, "ACTIVE", v3))
    newer = await store.get(sid)
    assert newer is not None and (newer.state, newer.version) == ("ACTIVE", v3)

    # Before the outbox, entries carry no version: their time stands in.
    legacy = new_id("sub")
    late = datetime.now(UTC) + timedelta(seconds=1)
    await _followed(store, settings, entry(legacy, "SUSPENDED", None, time=late.isoformat()))
    seen = await store.get(legacy)
    assert seen is not None and (seen.state, seen.version) == ("SUSPENDED", late)
    assert seen.version == late
