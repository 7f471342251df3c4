"""CreateBacktest, GetBacktest and CancelBacktest: the backtest use cases.

Everything a caller can get wrong is checked before a row exists, so an invalid request is
a clear INVALID_ARGUMENT naming the field rather than a FAILED backtest to poll for. The
range is counted in closed candles up front: too few for the strategy, or more than one
backtest may replay, is refused at once.

Backtests belong to the API key that created them and, when a marketplace key named one,
to the principal it acted for: any other key, or another principal through the same key,
gets NOT_FOUND, exactly as for an id that does not exist.

Running backtests are capped per API key and in all (analysis_svc/backtests/slots.py): past a
cap, CreateBacktest is RESOURCE_EXHAUSTED and writes nothing.

Every trade is sized by quant.sizing, as live bots are. Without a stake a backtest stakes the
whole balance, compounding, untruncated unless an amount_step is given. With a stake and no
amount_step, the market's step comes from the exchange's own filters (MarketSteps); the row
stores the step it used, so GetBacktest echoes it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Protocol

from redis.asyncio import Redis

from analysis_svc.backtests.runner import LEASE_MS, BacktestRunner, Job, lease_key
from analysis_svc.backtests.store import CANCELED, RUNNING, BacktestRow, BacktestStore
from analysis_svc.candles.closed import last_closed_open_ms
from analysis_svc.candles.venue import DEFAULT_EXCHANGES, CandleExchanges
from analysis_svc.domain.backtest import BacktestSettings, validate_time_range
from analysis_svc.domain.stake import check_stake_fits, parse_amount_step, parse_stake
from analysis_svc.domain.strategies import resolve_strategy
from mesh.decimals import dec_str
from mesh.errors import FailedPrecondition, InvalidArgument, NotFound
from mesh.ids import new_id
from quant.periods import TIMEFRAME_MS, periods_per_year_for_timeframe

# Candles are numpy columns end to end (48 bytes a candle), read from trading_svc's store.
MAX_BACKTEST_CANDLES = 1_000_000
ORPHANED = "the process running the backtest stopped; create it again"


@dataclass(frozen=True, slots=True)
class BacktestRequest:
    """CreateBacktestRequest as plain values; stored as the row's `request` JSON."""

    strategy: str
    params: Mapping[str, str]
    market: str
    timeframe: str
    start_ms: int
    end_ms: int
    initial_balance: str
    fee_rate: str
    slippage_bps: int
    # "" asks for the default exchange; stored rows always name theirs (older rows: "").
    exchange: str = ""
    # The stake (botmesh.sizing.v1.Stake): at most one set; both "" is the whole balance.
    stake_fixed_quote: str = ""
    stake_fraction: str = ""
    # "" asks for the market's step when staking; stored rows keep the step used.
    amount_step: str = ""

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["params"] = dict(self.params)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> BacktestRequest:
        return cls(**data)  # type: ignore[arg-type]


class AmountSteps(Protocol):
    """Where a market's amount step comes from (analysis_svc/candles/steps.py)."""

    async def amount_step(self, exchange: str, market: str) -> Decimal | None: ...


class Backtests:
    def __init__(
        self,
        store: BacktestStore,
        runner: BacktestRunner,
        redis: Redis,
        *,
        exchanges: CandleExchanges = DEFAULT_EXCHANGES,
        steps: AmountSteps | None = None,  # None: a stake without amount_step is untruncated
    ) -> None:
        self._exchanges = exchanges
        self._steps = steps
        self._store = store
        self._runner = runner
        self._redis = redis

    async def create(
        self, api_key_id: str, request: BacktestRequest, *, principal: str = ""
    ) -> BacktestRow:
        job_id = new_id("bt")
        exchange = self._exchanges.resolve(request.exchange)
        request = dataclasses.replace(request, exchange=exchange)
        job = self._validate(job_id, request)  # everything checked before any lookup
        if (
            not job.settings.stake.is_whole
            and job.settings.amount_step is None
            and self._steps is not None
        ):
            step = await self._steps.amount_step(exchange, request.market)
            request = dataclasses.replace(request, amount_step=dec_str(step))
            job = self._validate(job_id, request)
        job = dataclasses.replace(job, api_key_id=api_key_id)
        slots = self._runner.slots
        await slots.take(api_key_id, job_id)
        try:
            await self._store.insert(job_id, api_key_id, principal, request.to_json())
        except BaseException:
            await slots.release(api_key_id, job_id)
            raise
        await self._runner.start(job)
        return await self.get(api_key_id, job_id, principal=principal)

    async def get(self, api_key_id: str, backtest_id: str, *, principal: str = "") -> BacktestRow:
        row = await self._store.get(backtest_id, api_key_id, principal)
        if row is None:
            raise NotFound(
                f"backtest {backtest_id} does not exist",
                reason="BACKTEST_NOT_FOUND",
                metadata={"backtest_id": backtest_id},
            )
        if row.state == RUNNING and await self._orphaned(row):
            await self._store.fail(backtest_id, ORPHANED)
            return await self.get(api_key_id, backtest_id, principal=principal)
        return row

    async def cancel(
        self, api_key_id: str, backtest_id: str, *, principal: str = ""
    ) -> BacktestRow:
        """Idempotent for a canceled backtest (ICP replicas repeat calls); a finished one
        cannot be canceled any more."""
        row = await self.get(api_key_id, backtest_id, principal=principal)
        if row.state == RUNNING:
            if await self._store.cancel(backtest_id):
                self._runner.cancel_local(backtest_id)
            # Canceled, or it finished meanwhile.
            row = await self.get(api_key_id, backtest_id, principal=principal)
        if row.state != CANCELED:
            raise FailedPrecondition(
                f"backtest {backtest_id} already finished ({row.state})",
                reason="BACKTEST_FINISHED",
                metadata={"backtest_id": backtest_id, "state": row.state},
            )
        return row

    async def _orphaned(self, row: BacktestRow) -> bool:
        if self._runner.is_local(row.backtest_id):
            return False
        young = datetime.now(UTC) - row.create_time < timedelta(milliseconds=LEASE_MS)
        return not young and not await self._redis.exists(lease_key(row.backtest_id))

    def _validate(self, backtest_id: str, request: BacktestRequest) -> Job:
        bound = resolve_strategy(request.strategy, request.params)
        settings = BacktestSettings.from_wire(
            request.initial_balance,
            request.fee_rate,
            request.slippage_bps,
            periods_per_year=periods_per_year_for_timeframe(request.timeframe),
            stake=parse_stake(request.stake_fixed_quote, request.stake_fraction),
            amount_step=parse_amount_step(request.amount_step),
        )
        check_stake_fits(settings.stake, settings.initial_balance, settings.fee_rate)
        validate_time_range(request.start_ms, request.end_ms)
        step = TIMEFRAME_MS[request.timeframe]
        first = -(-request.start_ms // step) * step  # the first candle opening in the range
        last = min(request.end_ms - 1, last_closed_open_ms(request.timeframe, _now_ms()))
        last = last // step * step
        count = (last - first) // step + 1 if last >= first else 0
        if count == 0:
            raise InvalidArgument.for_field(
                "start_time", "no closed candle in the range", reason="BACKTEST_RANGE_EMPTY"
            )
        if count > MAX_BACKTEST_CANDLES:
            raise InvalidArgument.for_field(
                "end_time",
                f"the range holds {count} {request.timeframe} candles; "
                f"at most {MAX_BACKTEST_CANDLES} per backtest",
                reason="BACKTEST_RANGE_TOO_LONG",
            )
        if count < bound.min_candles:
            raise InvalidArgument.for_field(
                "start_time",
                f"the range holds {count} {request.timeframe} candles; "
                f"{bound.name} needs at least {bound.min_candles}",
                reason="BACKTEST_RANGE_TOO_SHORT",
            )
        return Job(
            backtest_id,
            request.exchange,
            request.market,
            request.timeframe,
            first,
            last,
            bound,
            settings,
        )


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
