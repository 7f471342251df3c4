"""Runs backtests in the background of the process that accepted them.

The candles are fetched on the event loop; the replay, CPU-bound numpy, runs in a thread
(asyncio.to_thread) so Analyze calls keep flowing meanwhile. A heartbeat task writes the
progress to the row and renews a Redis lease:
- the progress write doubles as the cancel check: it only updates a RUNNING row, so a
  CancelBacktest served by another process is noticed within one beat;
- the lease tells GetBacktest, in any process, that someone is still working on the row; a
  RUNNING row without a lease belongs to a process that died, and is failed instead of
  staying RUNNING forever;
- the same beat renews the run's concurrency slots (analysis_svc/backtests/slots.py), which
  the run frees when it ends, however it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from redis.asyncio import Redis

from analysis_svc.backtests.slots import BacktestSlots
from analysis_svc.backtests.store import BacktestStore
from analysis_svc.candles.source import CandleSource
from analysis_svc.domain.backtest import BacktestResult, BacktestSettings, run_backtest
from analysis_svc.domain.decimal_text import format_decimal
from analysis_svc.domain.errors import BacktestCancelled, UnusableCandles
from analysis_svc.domain.strategies import BoundStrategy
from mesh.decimals import dec_str
from mesh.errors import DomainError

log = logging.getLogger("botmesh.analysis.backtests")

HEARTBEAT_S = 0.5
LEASE_MS = 10_000
LEASE_PREFIX = "botmesh:analysis:backtest-lease:"
MAX_TRADES = 2_000  # a response stays far below the 4 MiB message limit; metrics count all
MAX_EQUITY_POINTS = 500
QUOTE_PLACES = Decimal("1e-8")  # profit_quote on the wire: 8 decimal places, as final_equity
# Of the progress bar: getting the candles (a backfill from the venue, the first time a range
# is asked; then the store's columns), the replay being the rest.
FETCH_SHARE = 0.5
STOPPED = "the service stopped before the backtest finished; create it again"


@dataclass(frozen=True, slots=True)
class Job:
    backtest_id: str
    exchange: str
    market: str
    timeframe: str
    first_open_ms: int
    last_open_ms: int
    strategy: BoundStrategy
    settings: BacktestSettings
    api_key_id: str = "internal"  # whose concurrency slot the run holds


class _Progress:
    """Written by the fetch loop and the replay thread, read by the heartbeat."""

    value = 0.0


def lease_key(backtest_id: str) -> str:
    return f"{LEASE_PREFIX}{backtest_id}"


class BacktestRunner:
    def __init__(
        self,
        store: BacktestStore,
        source: CandleSource,
        redis: Redis,
        slots: BacktestSlots | None = None,
    ) -> None:
        self._store = store
        self._source = source
        self._redis = redis
        self.slots = slots or BacktestSlots(redis, lease_ms=LEASE_MS)
        self._running: dict[str, tuple[asyncio.Task[None], threading.Event]] = {}

    def is_local(self, backtest_id: str) -> bool:
        return backtest_id in self._running

    async def start(self, job: Job) -> None:
        await self._redis.set(lease_key(job.backtest_id), b"1", px=LEASE_MS)
        cancel = threading.Event()
        task = asyncio.create_task(self._run(job, cancel), name=f"backtest {job.backtest_id}")
        self._running[job.backtest_id] = (task, cancel)

    def cancel_local(self, backtest_id: str) -> None:
        """Stops a run of this process at its next checkpoint (others notice via the row)."""
        running = self._running.get(backtest_id)
        if running is not None:
            running[1].set()

    async def shutdown(self) -> None:
        """Cancels every run of this process; each records that it was stopped."""
        tasks = [task for task, _ in self._running.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, job: Job, cancel: threading.Event) -> None:
        progress = _Progress()
        beat = asyncio.create_task(self._heartbeat(job, progress, cancel))
        try:
            result = await self._replay(job, progress, cancel)
            beat.cancel()
            await self._store.succeed(job.backtest_id, result_to_json(result))
        except BacktestCancelled:
            pass  # the cancel already moved the row to CANCELED
        except UnusableCandles as exc:  # the row says what was wrong with the data
            await self._fail(job.backtest_id, exc.detail)
        except DomainError as exc:
            await self._fail(job.backtest_id, exc.message)
        except asyncio.CancelledError:
            cancel.set()
            await self._fail(job.backtest_id, STOPPED)
            raise
        except Exception:
            log.exception("backtest failed", extra={"fields": {"backtest_id": job.backtest_id}})
            await self._fail(job.backtest_id, "internal error")
        finally:
            beat.cancel()
            self._running.pop(job.backtest_id, None)
            with contextlib.suppress(Exception):
                await self._redis.delete(lease_key(job.backtest_id))
            with contextlib.suppress(Exception):
                await self.slots.release(job.api_key_id, job.backtest_id)

    async def _fail(self, backtest_id: str, error: str) -> None:
        """Records a failure; if even that fails, the lease lapses and GetBacktest fails it."""
        try:
            await self._store.fail(backtest_id, error)
        except Exception:
            log.warning("could not record a backtest failure", exc_info=True)

    async def _replay(
        self, job: Job, progress: _Progress, cancel: threading.Event
    ) -> BacktestResult:
        async def on_page(fraction: float) -> None:
            progress.value = FETCH_SHARE * fraction
            if cancel.is_set():
                raise BacktestCancelled()

        candles = await self._source.candles(
            job.exchange,
            job.market,
            job.timeframe,
            job.first_open_ms,
            job.last_open_ms,
            on_page=on_page,
        )
        if cancel.is_set():
            raise BacktestCancelled()

        def replay_progress(fraction: float) -> None:
            progress.value = FETCH_SHARE + (1 - FETCH_SHARE) * fraction

        return await asyncio.to_thread(
            run_backtest,
            candles,
            job.strategy,
            job.settings,
            progress=replay_progress,
            cancel=cancel,
        )

    async def _heartbeat(self, job: Job, progress: _Progress, cancel: threading.Event) -> None:
        backtest_id = job.backtest_id
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                await self._redis.set(lease_key(backtest_id), b"1", px=LEASE_MS)
                await self.slots.renew(job.api_key_id, backtest_id)
                if not await self._store.set_progress(backtest_id, round(progress.value, 4)):
                    cancel.set()  # canceled (or failed) by someone else: stop working
                    return
            except Exception:  # a missed beat is harmless; the next one retries
                log.warning("backtest heartbeat failed", exc_info=True)


def result_to_json(result: BacktestResult) -> dict[str, Any]:
    """What the row stores and GetBacktest returns: decimals as strings, times in ms."""
    m = result.metrics
    return {
        "metrics": {
            "total_return": m.total_return,
            "win_rate": m.win_rate,
            "max_drawdown": m.max_drawdown,
            "sharpe": m.sharpe,
            "sortino": m.sortino,
            "profit_factor": m.profit_factor_or_zero,
            "trade_count": m.trade_count,
            "final_equity": format_decimal(m.final_equity),
            "profit_quote": dec_str(result.profit_quote.quantize(QUOTE_PLACES)),
        },
        "trades": [
            {
                "entry_time_ms": t.entry_time_ms,
                "exit_time_ms": t.exit_time_ms,
                "entry_price": format_decimal(t.entry_price),
                "exit_price": format_decimal(t.exit_price),
                "quantity": format_decimal(t.quantity),
                "pnl": format_decimal(t.pnl),
                "fee": format_decimal(t.fee),
            }
            for t in result.trades[:MAX_TRADES]
        ],
        "equity_curve": [
            [time_ms, format_decimal(equity)]
            for time_ms, equity in result.equity_points(MAX_EQUITY_POINTS)
        ],
        "candle_count": result.candle_count,
    }
