"""Performance use cases: a subscription's ledger, its snapshots, and GetPerformance.

- `ledger` replays every fill of the subscription (performance/ledger.py), so position,
  realized PnL and fees are always what the fills say, never a running total that could drift.
- `snapshot` values the ledger at a price and appends one performance_logs row; the bot
  runtime calls it at every tick that changes something and publishes the message it
  returns. `hourly_snapshot` does the same only if it wins the hour's claim.
- GetPerformance acts for the acting principal: another principal's subscription is
  NOT_FOUND exactly as ListTrades answers it. The range is [start_time, end_time): end
  defaults to now, start to 30 days before end; start must be before end and the range at
  most 366 days (INVALID_ARGUMENT INVALID_TIME_RANGE / TIME_RANGE_TOO_LONG). Pages hold up
  to page_size snapshots (default 500, at most 1,000), oldest first; the Performance is over
  the whole range whatever the page.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from botmesh.trading.v1 import resources_pb2 as pb

from mesh.db import utcnow
from mesh.errors import InvalidArgument
from mesh.pagination import decode_token, encode_token, invalid_token, page_size
from trading_svc.orders.subscriptions import SubscriptionReader
from trading_svc.performance import ledger as book
from trading_svc.performance.ledger import LedgerState
from trading_svc.performance.model import Snapshot
from trading_svc.performance.report import latest_pb, range_pb
from trading_svc.performance.store import PerformanceStore

DEFAULT_RANGE = timedelta(days=30)
MAX_RANGE = timedelta(days=366)
DEFAULT_PAGE_SIZE = 500
MAX_PAGE_SIZE = 1000
_EARLIEST = datetime(1, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PerformancePage:
    performance: pb.Performance
    snapshots: list[Snapshot]
    next_page_token: str


def time_range(
    start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """The [start, end) a request asks for, with the defaults applied; INVALID_ARGUMENT when
    it is empty, reversed or longer than MAX_RANGE."""
    end = end or now
    if start is None:
        try:
            start = end - DEFAULT_RANGE
        except OverflowError:
            start = _EARLIEST
    if start >= end:
        raise InvalidArgument.for_field(
            "end_time", "end_time must be after start_time", reason="INVALID_TIME_RANGE"
        )
    if end - start > MAX_RANGE:
        raise InvalidArgument.for_field(
            "start_time",
            f"the range spans more than {MAX_RANGE.days} days",
            reason="TIME_RANGE_TOO_LONG",
        )
    return start, end


def _page_size(requested: int) -> int:
    if not 0 <= requested <= MAX_PAGE_SIZE:
        raise InvalidArgument.for_field("page_size", f"must be between 0 and {MAX_PAGE_SIZE}")
    return page_size(requested, DEFAULT_PAGE_SIZE)


def _after(token: str) -> tuple[datetime, int] | None:
    key = decode_token(token)
    if key is None:
        return None
    when, ident = key
    if not ident.isdigit() or len(ident) > 19:
        raise invalid_token()
    return when, int(ident)


class PerformanceService:
    def __init__(self, store: PerformanceStore, subs: SubscriptionReader) -> None:
        self._store = store
        self._subs = subs

    async def ledger(self, subscription_id: str) -> LedgerState:
        return book.replay(await self._store.fills(subscription_id))

    async def ledgers(self, subscription_ids: Iterable[str]) -> dict[str, LedgerState]:
        """The ledgers of many subscriptions from one read of their fills."""
        ids = list(subscription_ids)
        fills = await self._store.fills_of(ids)
        return {sid: book.replay(fills.get(sid, [])) for sid in ids}

    async def snapshot(
        self,
        subscription_id: str,
        allocation: Decimal,
        price: Decimal,
        at: datetime,
        state: LedgerState | None = None,
    ) -> pb.Performance:
        """Appends the subscription's snapshot at `price` and returns it as a Performance;
        `state` is its ledger when the caller has just read it."""
        if state is None:
            state = await self.ledger(subscription_id)
        snap = _value(subscription_id, state, allocation, price, at)
        await self._store.insert(snap)
        return latest_pb(snap, [t.pnl for t in state.round_trips], allocation)

    async def hourly_snapshot(
        self,
        subscription_id: str,
        allocation: Decimal,
        price: Decimal,
        at: datetime,
        max_age: timedelta,
    ) -> pb.Performance | None:
        """As `snapshot`, but only if no snapshot was claimed in the `max_age` before `at`
        (by any replica); None when another got there first."""
        state = await self.ledger(subscription_id)
        snap = _value(subscription_id, state, allocation, price, at)
        if await self._store.insert(snap, claim_before=at - max_age) is None:
            return None
        return latest_pb(snap, [t.pnl for t in state.round_trips], allocation)

    async def get(
        self,
        principal: str | None,
        subscription_id: str,
        start: datetime | None,
        end: datetime | None,
        requested_size: int,
        token: str,
    ) -> PerformancePage:
        """GetPerformance: a page of the range's snapshots and the range's Performance."""
        start, end = time_range(start, end, utcnow())
        size = _page_size(requested_size)
        after = _after(token)
        sub = await self._subs.for_principal(principal, subscription_id)
        sid = sub.subscription_id
        rows = await self._store.page(sid, start, end, size + 1, after)
        series = await self._store.equity_series(sid, start, end)
        last = await self._store.last(sid, start, end)
        state = await self.ledger(sid)
        pnls = [t.pnl for t in book.trips_between(state, start, end)]
        perf = range_pb(sid, series, pnls, last, min(end, utcnow()))
        next_token = ""
        if len(rows) > size:
            final = rows[size - 1]
            next_token = encode_token(final.time, str(final.snapshot_id))
        return PerformancePage(perf, rows[:size], next_token)


def _value(
    subscription_id: str, state: LedgerState, allocation: Decimal, price: Decimal, at: datetime
) -> Snapshot:
    return Snapshot(
        subscription_id=subscription_id,
        time=at,
        equity=book.equity(state, allocation, price),
        realized_pnl=state.realized,
        unrealized_pnl=book.unrealized(state, price),
        position=state.position,
        fees=state.fees,
        exposure=book.exposure(state, price),
    )
