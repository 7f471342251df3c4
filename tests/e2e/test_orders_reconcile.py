"""Reconciliation and the proof of loss (issue 8, item 1), with trading_svc's own parts built
here on the run's MariaDB, Redis, credential_svc and exchange_sim (nothing stood in for):

- the reconciler's bounded batch only takes orders of subscriptions that may trade (by
  trading_svc's own projection, kept by the change stream), unsettled first, so a paused
  subscription's many stuck orders cannot starve an active one's;
- "proven lost" counts from when the request was signed, not from when the row last
  changed, and the exchange judges the request by exactly that signing time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt
import httpx
import pytest
import sqlalchemy as sa

from credential_svc.subscriptions import events
from credential_svc.subscriptions.store import _sub as subscription_of
from credential_svc.tables import subscriptions
from exchange_sim import SimServer
from exchanges.clients import ClientFactory
from mesh.audit import AuditLog, verify_chain
from mesh.ids import new_id
from mesh.redis import make_redis
from mesh.settings import Settings
from mesh.tables import audit_log
from tests.e2e.trading_support import Account, open_account
from trading_svc.config import TradingConfig
from trading_svc.credentials import InternalCredentialClient
from trading_svc.events.log import EventLog
from trading_svc.exchange import calls
from trading_svc.exchange.pool import ExchangePool
from trading_svc.orders.audit import OrderAudit
from trading_svc.orders.execution import Executor
from trading_svc.orders.model import (
    BUY,
    LIVE,
    MANUAL,
    MARKET,
    UNKNOWN,
    UNSETTLED,
    Order,
    client_order_id,
)
from trading_svc.orders.projection import ProjectionStore, may_be_trading
from trading_svc.orders.reconciler import Reconciler
from trading_svc.orders.store import OrderStore
from trading_svc.orders.subscriptions import SubscriptionReader
from trading_svc.tables import orders

BATCH = 5
STUCK = 12
QUANTITY = Decimal("0.0001")


@dataclass
class Parts:
    store: OrderStore
    pool: ExchangePool
    executor: Executor
    reconciler: Reconciler
    config: TradingConfig


@pytest.fixture
async def parts(settings: Settings, engine, mesh) -> AsyncIterator[Parts]:  # type: ignore[no-untyped-def]
    config = TradingConfig.from_env()
    credentials = InternalCredentialClient(settings.credential.target, settings.internal_token)
    factory = ClientFactory(
        settings.exchange_venue, settings.exchange_sim_url, config.client_settings()
    )
    pool = ExchangePool(credentials, factory, config.client_idle_s)
    redis = make_redis(settings.redis_url)
    store = OrderStore(engine)
    executor = Executor(store, EventLog(redis, 1000), config.recv_window_ms, config.abandon_after_s)
    subs = SubscriptionReader(settings.credential.target, settings.internal_token)
    reconciler = Reconciler(engine, store, subs, pool, executor, 3600, batch=BATCH)
    yield Parts(store, pool, executor, reconciler, config)
    await subs.close()
    await pool.close()
    await credentials.close()
    await redis.aclose()


async def _unknown_row(engine, account: Account, touched: datetime, signed: datetime) -> Order:  # type: ignore[no-untyped-def]
    """An order row left UNKNOWN (its answer lost), as a crash or a timeout leaves it."""
    async with engine.connect() as conn:
        credential_id = (
            await conn.execute(
                sa.select(subscriptions.c.credential_id).where(
                    subscriptions.c.subscription_id == account.subscription_id
                )
            )
        ).scalar_one()
    order_id = new_id("ord")
    order = Order(
        order_id=order_id,
        subscription_id=account.subscription_id,
        credential_id=credential_id,
        exchange="binance",
        client_order_id=client_order_id(order_id),
        exchange_order_id=None,
        market="BTC-USDT",
        side=BUY,
        type=MARKET,
        quantity=QUANTITY,
        price=None,
        filled_quantity=Decimal(0),
        average_price=None,
        fee=Decimal(0),
        state=UNKNOWN,
        source=MANUAL,
        tick_key=None,
        reject_reason="",
        create_time=touched,
        update_time=touched,
        signed_time=signed,
    )
    async with engine.begin() as conn:
        await conn.execute(orders.insert().values(**order.__dict__))
    return order


async def _trader(exchange_sim: SimServer, account: Account) -> Any:
    return ccxt.binance(exchange_sim.ccxt_config(account.sim.api_key, account.sim.api_secret))


async def _pause(engine, settings: Settings, account: Account) -> None:  # type: ignore[no-untyped-def]
    """Pauses the subscription in credential_svc's table and records the change in its outbox
    in the same transaction, as credential_svc's own writers do; the mesh's relay publishes
    it and the mesh's trading_svc follows the stream into its projection."""
    async with engine.begin() as conn:
        await conn.execute(
            subscriptions.update()
            .where(subscriptions.c.subscription_id == account.subscription_id)
            .values(state="PAUSED", update_time=datetime.now(UTC))
        )
        row = (
            await conn.execute(
                sa.select(subscriptions).where(
                    subscriptions.c.subscription_id == account.subscription_id
                )
            )
        ).one()
        await events.record(conn, "paused", subscription_of(row))
    projection = ProjectionStore(engine)
    for _ in range(100):
        seen = await projection.get(account.subscription_id)
        if seen is not None and seen.state == "PAUSED":
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the projection did not follow the stream")


async def test_paused_subscriptions_stuck_orders_do_not_starve_an_active_ones(
    rest: httpx.AsyncClient,
    keys: dict[str, str],
    engine,  # type: ignore[no-untyped-def]
    settings: Settings,
    exchange_sim: SimServer,
    parts: Parts,
) -> None:
    now = datetime.now(UTC)
    async with exchange_sim.admin() as admin:
        paused = await open_account(rest, keys, engine, admin)
        active = await open_account(rest, keys, engine, admin)
    await _pause(engine, settings, paused)
    an_hour_ago = now - timedelta(hours=1)
    for _ in range(STUCK):  # older than the active order: first in line by age
        await _unknown_row(engine, paused, an_hour_ago, an_hour_ago)
    order = await _unknown_row(
        engine, active, now - timedelta(minutes=10), now - timedelta(minutes=10)
    )
    # The exchange did take it: only its answer was lost.
    trader = await _trader(exchange_sim, active)
    try:
        await trader.create_order(
            "BTC/USDT", "market", "buy", float(QUANTITY), None,
            {"clientOrderId": order.client_order_id},
        )  # fmt: skip
    finally:
        await trader.close()

    everyone = await parts.store.needing_attention(UNSETTLED | LIVE, BATCH)
    assert order.order_id not in {o.order_id for o in everyone}  # what starved it before
    eligible = await parts.store.needing_attention(
        UNSETTLED | LIVE, BATCH, eligible=may_be_trading(datetime.now(UTC))
    )
    assert order.order_id in {o.order_id for o in eligible}
    assert paused.subscription_id not in {o.subscription_id for o in eligible}

    await parts.reconciler.full_pass()
    settled = await parts.store.load(order.order_id)
    assert settled.state == "FILLED" and settled.filled_quantity == QUANTITY
    async with engine.connect() as conn:
        stuck = (
            await conn.execute(
                sa.select(orders.c.state).where(orders.c.subscription_id == paused.subscription_id)
            )
        ).scalars()
        assert set(stuck) == {UNKNOWN}  # left alone: nothing may trade for it


async def test_lost_is_proven_from_the_signing_time_not_the_last_change(
    rest: httpx.AsyncClient,
    keys: dict[str, str],
    engine,  # type: ignore[no-untyped-def]
    exchange_sim: SimServer,
    parts: Parts,
) -> None:
    async with exchange_sim.admin() as admin:
        account = await open_account(rest, keys, engine, admin)
        now = datetime.now(UTC)
        # Changed minutes ago (far beyond recvWindow, within the abandon limit), but signed
        # just now (ccxt's throttle held it): it may still land.
        order = await _unknown_row(engine, account, now - timedelta(minutes=5), now)
        client = await parts.pool.trading(account.subscription_id, order.credential_id, "binance")
        after = await parts.executor.resolve(client, order)
        assert after.state == UNKNOWN
        assert await admin.orders(account.sim.api_key) == []  # nothing was sent again

        # Signed longer ago than recvWindow: the exchange would refuse it now, so it is lost,
        # and sent again under the same client order id.
        window = timedelta(milliseconds=parts.config.recv_window_ms)
        async with engine.begin() as conn:
            await conn.execute(
                orders.update()
                .where(orders.c.order_id == order.order_id)
                .values(signed_time=now - window - timedelta(seconds=2))
            )
        sent = await parts.executor.resolve(client, await parts.store.load(order.order_id))
        on_exchange = await admin.orders(account.sim.api_key)
    assert sent.state == "FILLED"
    assert sent.signed_time is not None and sent.signed_time > now
    assert [o["clientOrderId"] for o in on_exchange] == [order.client_order_id]


async def test_the_exchange_judges_a_request_by_the_signing_time_we_recorded(
    rest: httpx.AsyncClient,
    keys: dict[str, str],
    engine,  # type: ignore[no-untyped-def]
    exchange_sim: SimServer,
    parts: Parts,
) -> None:
    async with exchange_sim.admin() as admin:
        account = await open_account(rest, keys, engine, admin)
        window = timedelta(milliseconds=parts.config.recv_window_ms)
        stale = await _unknown_row(
            engine, account, datetime.now(UTC), datetime.now(UTC) - window - timedelta(seconds=1)
        )
        client = await parts.pool.trading(account.subscription_id, stale.credential_id, "binance")
        with pytest.raises(ccxt.InvalidNonce):
            await calls.submit(client, "BTC/USDT", stale)
        assert await admin.orders(account.sim.api_key) == []
        fresh = stale.with_changes(signed_time=datetime.now(UTC))
        await calls.submit(client, "BTC/USDT", fresh)
        assert [o["clientOrderId"] for o in await admin.orders(account.sim.api_key)] == [
            stale.client_order_id
        ]


async def test_an_order_left_without_its_audit_row_gets_it_once(
    rest: httpx.AsyncClient,
    keys: dict[str, str],
    engine,  # type: ignore[no-untyped-def]
    exchange_sim: SimServer,
    settings: Settings,
) -> None:
    """The audit row is written beside the send; a crash between the order row and it
    leaves an order the chain lacks. The repair appends it, once, however often it runs
    (and whoever else runs it: the mesh's own reconciler may get there first)."""
    async with exchange_sim.admin() as admin:
        account = await open_account(rest, keys, engine, admin)
    now = datetime.now(UTC)
    order = await _unknown_row(engine, account, now, now)  # no audit row, as a crash leaves it
    audit = OrderAudit(engine, AuditLog(settings.api_key_pepper))

    for _ in range(3):
        await audit.repair(now - timedelta(minutes=1))
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(audit_log.c.action, audit_log.c.detail).where(
                    audit_log.c.resource == order.order_id
                )
            )
        ).all()
    assert [(action, detail["client_order_id"]) for action, detail in rows] == [
        ("order.place", order.client_order_id)
    ]
    checked, broken = await verify_chain(engine)
    assert broken is None and checked >= 1
