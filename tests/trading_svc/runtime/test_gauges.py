"""The runtime's store gauges on MariaDB and Redis: orders by state not yet final, UNKNOWN
orders older than a minute (a younger one is the reconciler's to settle), and accounts whose
exchange circuit (backoff) is open until it ends or an order goes through.

The database and Redis DB are shared with the run's other tests, so each case compares a
refresh after its own writes with one before them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mesh.db import utcnow
from mesh.ids import new_id
from mesh.redis import OUTAGE_ERRORS, make_redis
from mesh.settings import Settings
from trading_svc.runtime.backoff import AccountBackoff
from trading_svc.runtime.gauges import EXCHANGE_ACCOUNT_BREAKER, StoreGauges
from trading_svc.runtime.metrics import RuntimeMetrics
from trading_svc.tables import orders


async def _order(engine: AsyncEngine, state: str, age: timedelta) -> str:
    order_id = new_id("ord")
    at = utcnow() - age
    async with engine.begin() as conn:
        await conn.execute(
            orders.insert().values(
                order_id=order_id,
                subscription_id=new_id("sub"),
                credential_id=new_id("cred"),
                exchange="binance",
                client_order_id="bm-" + order_id.split("_", 1)[1],
                market="BTC-USDT",
                side="buy",
                type="market",
                quantity=Decimal("0.01"),
                filled_quantity=Decimal(0),
                fee=Decimal(0),
                state=state,
                source="bot",
                create_time=at,
                update_time=at,
            )
        )
    return order_id


@pytest.fixture
async def gauges(engine: AsyncEngine, settings: Settings):  # type: ignore[no-untyped-def]
    redis = make_redis(settings.redis_url)
    metrics = RuntimeMetrics()
    yield StoreGauges(engine, AccountBackoff(redis), metrics), metrics
    await redis.aclose()


async def test_orders_not_yet_final_are_counted_by_state_and_final_ones_are_not(
    engine: AsyncEngine, gauges: tuple[StoreGauges, RuntimeMetrics]
) -> None:
    reader, metrics = gauges
    await reader.refresh()
    before = dict(metrics.orders_by_state or {})

    for state in ("OPEN", "OPEN", "PENDING_SUBMIT", "FILLED", "CANCELED", "REJECTED"):
        await _order(engine, state, timedelta(seconds=1))
    await reader.refresh()

    after = metrics.orders_by_state or {}
    assert after.get("OPEN", 0) - before.get("OPEN", 0) == 2
    assert after.get("PENDING_SUBMIT", 0) - before.get("PENDING_SUBMIT", 0) == 1
    assert not {"FILLED", "CANCELED", "REJECTED"} & set(after)
    assert metrics.gauges_time > 0


async def test_only_unknown_orders_older_than_a_minute_count_as_stale(
    engine: AsyncEngine, gauges: tuple[StoreGauges, RuntimeMetrics]
) -> None:
    reader, metrics = gauges
    await reader.refresh()
    before, unknown_before = metrics.unknown_stale or 0, (metrics.orders_by_state or {})

    await _order(engine, "UNKNOWN", timedelta(seconds=61))
    await _order(engine, "UNKNOWN", timedelta(seconds=5))  # the reconciler's, still
    await _order(engine, "SUBMITTING", timedelta(minutes=5))  # not UNKNOWN
    await reader.refresh()

    assert (metrics.unknown_stale or 0) - before == 1
    unknown_after = metrics.orders_by_state or {}
    assert unknown_after.get("UNKNOWN", 0) - unknown_before.get("UNKNOWN", 0) == 2


async def test_an_account_in_exchange_backoff_is_an_open_circuit_until_cleared(
    gauges: tuple[StoreGauges, RuntimeMetrics], settings: Settings
) -> None:
    reader, metrics = gauges
    redis = make_redis(settings.redis_url)
    backoff = AccountBackoff(redis)
    await reader.refresh()
    before = metrics.breakers_open[EXCHANGE_ACCOUNT_BREAKER]
    failing, recovered = new_id("cred"), new_id("cred")
    try:
        await backoff.failed(failing)
        await backoff.failed(recovered)
        await reader.refresh()
        assert metrics.breakers_open[EXCHANGE_ACCOUNT_BREAKER] - before == 2

        await backoff.clear(recovered)  # an order went through
        await reader.refresh()
        assert metrics.breakers_open[EXCHANGE_ACCOUNT_BREAKER] - before == 1
    finally:
        await backoff.clear(failing)
        await backoff.clear(recovered)
        await redis.aclose()


async def test_a_backoff_that_ended_leaves_the_count(settings: Settings) -> None:
    redis = make_redis(settings.redis_url)
    backoff = AccountBackoff(redis)
    credential = new_id("cred")
    try:
        before = await backoff.open_count()
        await backoff.failed(credential)  # a first failure backs off 1 s
        assert await backoff.open_count() == before + 1
        # Its end passes: scored in the past, as Redis's own expiry of the backoff key does.
        await redis.zadd("botmesh:runtime:backoff-open", {credential: 0})
        assert await backoff.open_count() == before
    finally:
        await backoff.clear(credential)
        await redis.aclose()


async def test_a_failed_refresh_keeps_serving_the_last_numbers(
    engine: AsyncEngine, gauges: tuple[StoreGauges, RuntimeMetrics], settings: Settings
) -> None:
    reader, metrics = gauges
    await reader.refresh()
    served, when = metrics.unknown_stale, metrics.gauges_time
    dead = make_redis("redis://127.0.0.1:1/0")
    broken = StoreGauges(engine, AccountBackoff(dead), metrics)
    with pytest.raises(OUTAGE_ERRORS):  # Redis refuses: the run loop logs it and waits
        await broken.refresh()
    assert (metrics.unknown_stale, metrics.gauges_time) == (served, when)
    await dead.aclose()
