"""The performance use cases on MariaDB: a snapshot values the ledger replayed from the
stored fills and appends it to the log; the hourly variant writes only for the claim's
winner; GetPerformance refuses a bad range, page size or token before anything is read."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mesh.errors import InvalidArgument
from mesh.ids import new_id
from mesh.pagination import encode_token
from mesh.timestamps import from_ts
from tests.trading_svc.performance.fills_support import record_fills
from trading_svc.orders.subscriptions import SubscriptionReader
from trading_svc.performance.ledger import LedgerFill
from trading_svc.performance.service import PerformanceService, time_range
from trading_svc.performance.store import PerformanceStore

T0 = datetime(2026, 11, 2, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@pytest.fixture
async def service(engine: AsyncEngine) -> PerformanceService:
    # A reader nobody answers: the cases here never reach it (input is refused first, and
    # snapshots act for the runtime, not a caller). tests/e2e covers the caller's checks.
    return PerformanceService(PerformanceStore(engine), SubscriptionReader("127.0.0.1:9", "-"))


async def test_a_snapshot_values_the_fills_at_the_price_and_is_logged(
    engine: AsyncEngine, service: PerformanceService
) -> None:
    sub = new_id("sub")
    fills = [
        LedgerFill("buy", "BTC-USDT", D("50000"), D("0.01"), D("0.00001"), "BTC", T0),
        LedgerFill("sell", "BTC-USDT", D("52000"), D("0.005"), D("0.26"), "USDT", T0 + HOUR),
    ]
    await record_fills(engine, sub, fills)
    state = await service.ledger(sub)
    assert state.position == D("0.00499")

    perf = await service.snapshot(sub, D(1000), D(51000), T0 + 2 * HOUR)
    cost_left = D(500) * D("0.00499") / D("0.00999")
    realized = D(260) - D("0.26") - (D(500) - cost_left)
    unrealized = D("0.00499") * 51000 - cost_left
    assert D(perf.realized_pnl) == pytest.approx(realized, abs=D("1e-12"))
    assert D(perf.unrealized_pnl) == pytest.approx(unrealized, abs=D("1e-12"))
    assert D(perf.equity) == pytest.approx(1000 + realized + unrealized, abs=D("1e-12"))
    assert D(perf.fees) == D("0.5") + D("0.26")  # 0.00001 BTC at 50000, then quote
    assert D(perf.exposure) == D("254.49")
    assert from_ts(perf.as_of) == T0 + 2 * HOUR and perf.trade_count == 0

    [logged] = await PerformanceStore(engine).page(sub, T0, T0 + DAY, 10, None)
    assert logged.position == D("0.00499") and logged.exposure == D("254.49")
    assert logged.equity == pytest.approx(D(perf.equity), abs=D("1e-17"))


async def test_the_hourly_snapshot_is_written_once_per_hour_whoever_races(
    service: PerformanceService,
) -> None:
    sub = new_id("sub")
    at = T0 + 5 * HOUR
    racing = [service.hourly_snapshot(sub, D(500), D(1), at, HOUR) for _ in range(3)]
    made = [p for p in await asyncio.gather(*racing) if p is not None]
    assert len(made) == 1 and made[0].equity == "500"
    assert (
        await service.hourly_snapshot(sub, D(500), D(1), at + 10 * timedelta(minutes=1), HOUR)
        is None
    )
    assert await service.hourly_snapshot(sub, D(500), D(1), at + 2 * HOUR, HOUR) is not None


def test_the_range_defaults_to_the_30_days_before_now() -> None:
    now = T0
    assert time_range(None, None, now) == (now - 30 * DAY, now)
    assert time_range(None, now - DAY, now) == (now - 31 * DAY, now - DAY)
    assert time_range(now - 366 * DAY, now, now) == (now - 366 * DAY, now)
    early = datetime(1, 1, 2, tzinfo=UTC)
    assert time_range(None, early, now) == (datetime(1, 1, 1, tzinfo=UTC), early)


@pytest.mark.parametrize(
    ("start", "end", "size", "token", "field", "reason"),
    [
        (T0, T0, 0, "", "end_time", "INVALID_TIME_RANGE"),
        (T0 + HOUR, T0, 0, "", "end_time", "INVALID_TIME_RANGE"),
        (T0 - 367 * DAY, T0, 0, "", "start_time", "TIME_RANGE_TOO_LONG"),
        (None, None, 1001, "", "page_size", "INVALID_FIELD"),
        (None, None, -1, "", "page_size", "INVALID_FIELD"),
        (None, None, 0, "not-a-token", "page_token", "INVALID_PAGE_TOKEN"),
        # A well-formed token whose id is not a snapshot's (snapshot ids are integers).
        (None, None, 0, encode_token(T0, "ord_x"), "page_token", "INVALID_PAGE_TOKEN"),
    ],
)
async def test_bad_input_is_refused_before_anything_is_read(
    service: PerformanceService,
    start: datetime | None,
    end: datetime | None,
    size: int,
    token: str,
    field: str,
    reason: str,
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        await service.get("principal-x", new_id("sub"), start, end, size, token)
    assert refused.value.reason == reason
    assert [v.field for v in refused.value.violations] == [field]
