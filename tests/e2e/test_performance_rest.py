"""GetPerformance over REST through Envoy (issue 10, item 5): a subscription that traded on
exchange_sim, its snapshots written through the performance service as the bot runtime
writes them, read back one time-bounded page after another, oldest first, with the range's
metrics on every page; another principal gets NOT_FOUND, a reversed range 400; and the
hourly loop writes one snapshot per hour for a subscription nothing else snapshots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import sqlalchemy as sa

from exchange_sim import SimServer
from mesh.settings import Settings
from tests.e2e.test_bots_rest import assert_error
from tests.e2e.trading_support import idem, open_account
from trading_svc.orders.subscriptions import SubscriptionReader
from trading_svc.performance.hourly import HourlySnapshots
from trading_svc.performance.service import PerformanceService
from trading_svc.performance.store import PerformanceStore
from trading_svc.tables import performance_logs

QUANTITY = "0.002"
HOUR = timedelta(hours=1)


def _rfc3339(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


async def _trade(rest: httpx.AsyncClient, path: str, headers: dict[str, str], side: str) -> None:
    resp = await rest.post(
        path,
        json={"side": side, "type": "ORDER_TYPE_MARKET", "quantity": QUANTITY},
        headers=idem(headers),
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["order"]["state"] == "ORDER_STATE_FILLED"


async def test_performance_pages_through_a_time_range_with_the_ranges_metrics(
    rest: httpx.AsyncClient,
    keys: dict[str, str],
    engine,  # type: ignore[no-untyped-def]
    exchange_sim: SimServer,
    settings: Settings,
) -> None:
    async with exchange_sim.admin() as admin:
        account = await open_account(rest, keys, engine, admin, allocation="1000")
        other = await open_account(rest, keys, engine, admin)
    await _trade(rest, account.path("/orders"), account.headers, "ORDER_SIDE_BUY")
    await _trade(rest, account.path("/orders"), account.headers, "ORDER_SIDE_SELL")

    reader = SubscriptionReader(settings.credential.target, settings.internal_token)
    service = PerformanceService(PerformanceStore(engine), reader)
    now = datetime.now(UTC)
    prices = ["60000", "61000", "59000", "62000", "60500"]
    written = [
        await service.snapshot(account.subscription_id, Decimal(1000), Decimal(p), at)
        for p, at in zip(prices, [now - (4 - i) * HOUR for i in range(5)], strict=True)
    ]
    state = await service.ledger(account.subscription_id)
    assert state.position == 0 and len(state.round_trips) == 1

    query = {
        "start_time": _rfc3339(now - 3 * HOUR - timedelta(minutes=1)),  # drops the first
        "end_time": _rfc3339(now + timedelta(minutes=1)),
        "page_size": "2",
    }
    snapshots: list[dict[str, Any]] = []
    performances: list[dict[str, Any]] = []
    while True:
        resp = await rest.get(account.path("/performance"), params=query, headers=account.headers)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        snapshots += body["snapshots"]
        performances.append(body["performance"])
        if not body.get("next_page_token"):
            break
        query["page_token"] = body["next_page_token"]

    assert len(performances) == 2 and performances[0] == performances[1]
    assert [s["equity"] for s in snapshots] == [w.equity for w in written[1:]]
    times = [s["time"] for s in snapshots]
    assert times == sorted(times)
    perf = performances[0]
    assert perf["subscription_id"] == account.subscription_id
    assert perf["equity"] == written[-1].equity
    assert perf["realized_pnl"] == written[-1].realized_pnl
    assert Decimal(perf["fees"]) == state.fees > 0
    assert perf.get("exposure", "0") == "0"
    assert perf.get("trade_count") == 1  # the round trip closed inside the range
    # Equity moves only with realized PnL here (flat): a flat curve has no drawdown.
    assert perf.get("max_drawdown", 0) == 0
    assert perf.get("win_rate", 0) == (1.0 if state.round_trips[0].pnl > 0 else 0)

    for resp in (
        await rest.get(account.path("/performance"), headers=other.headers),
        await rest.get(
            other.path("/performance").replace(other.subscription_id, "sub_nobody"),
            headers=other.headers,
        ),
    ):
        assert_error(resp, 404, reason="SUBSCRIPTION_NOT_FOUND")
    reversed_range = {"start_time": _rfc3339(now), "end_time": _rfc3339(now - HOUR)}
    resp = await rest.get(
        account.path("/performance"), params=reversed_range, headers=account.headers
    )
    assert_error(resp, 400, reason="INVALID_TIME_RANGE", field="end_time")
    too_long = {"start_time": _rfc3339(now - timedelta(days=367)), "end_time": _rfc3339(now)}
    resp = await rest.get(account.path("/performance"), params=too_long, headers=account.headers)
    assert_error(resp, 400, reason="TIME_RANGE_TOO_LONG", field="start_time")

    # The hourly loop: `other` has no snapshot; one pass writes one, a second pass none.
    async def price(exchange: str, market: str) -> Decimal:
        return Decimal("60000")

    hourly = HourlySnapshots(service, PerformanceStore(engine), reader, price)
    await hourly.run_once()
    await hourly.run_once()
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(performance_logs.c.equity).where(
                    performance_logs.c.subscription_id == other.subscription_id
                )
            )
        ).all()
    assert [Decimal(r.equity) for r in rows] == [Decimal(1000)]
    await reader.close()
