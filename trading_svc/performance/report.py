"""Performance messages from the log and the ledger: pure, no I/O.

Ratios over a range come from quant.compute_metrics, the code backtests use: the equity
curve is the range's snapshots (annualised by their median spacing), the trades are the
round trips that closed in the range. A range without snapshots has no curve: its ratios are
0, and its win rate and profit factor still count its round trips.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

import numpy as np
from botmesh.trading.v1 import resources_pb2 as pb

from mesh.decimals import dec_str
from mesh.timestamps import ts
from quant.metrics import compute_metrics, profit_factor, win_rate
from quant.periods import periods_per_year_for_timeframe
from trading_svc.performance.model import Snapshot

# Annualisation when snapshots share one instant and their spacing says nothing.
FALLBACK_TIMEFRAME = "1h"


def snapshot_pb(snapshot: Snapshot) -> pb.PerformanceSnapshot:
    return pb.PerformanceSnapshot(
        time=ts(snapshot.time),
        equity=dec_str(snapshot.equity),
        realized_pnl=dec_str(snapshot.realized_pnl),
        unrealized_pnl=dec_str(snapshot.unrealized_pnl),
        fees=dec_str(snapshot.fees),
        exposure=dec_str(snapshot.exposure),
        position=dec_str(snapshot.position),
    )


def latest_pb(snapshot: Snapshot, pnls: Sequence[Decimal], allocation: Decimal) -> pb.Performance:
    """The Performance of one new snapshot (for the event stream): its figures, the return
    on the allocation, and win rate and profit factor over every round trip so far. Curve
    ratios (drawdown, Sharpe, Sortino) need the log: GetPerformance has them."""
    perf = _figures(snapshot.subscription_id, snapshot)
    trades = _floats(pnls)
    perf.trade_count = len(pnls)
    perf.win_rate = win_rate(trades)
    perf.profit_factor = profit_factor(trades) or 0.0
    if allocation > 0:
        perf.total_return = float(snapshot.equity / allocation - 1)
    return perf


def range_pb(
    subscription_id: str,
    series: Sequence[tuple[datetime, Decimal]],
    pnls: Sequence[Decimal],
    last: Snapshot | None,
    as_of: datetime,
) -> pb.Performance:
    """The Performance of a range: ratios over its whole equity curve and round trips, and
    the figures of its last snapshot."""
    perf = _figures(subscription_id, last)
    if last is None:
        perf.as_of.CopyFrom(ts(as_of))
    trades = _floats(pnls)
    perf.trade_count = len(pnls)
    perf.win_rate = win_rate(trades)
    perf.profit_factor = profit_factor(trades) or 0.0
    equity = np.array([float(e) for _, e in series], dtype=np.float64)
    if equity.size == 0 or equity[0] <= 0:
        return perf
    stamps = np.array([int(t.timestamp() * 1000) for t, _ in series], dtype=np.int64)
    try:
        metrics = compute_metrics(equity, trades, timestamps=stamps)
    except ValueError:  # snapshots at one instant: no spacing to annualise by
        ppy = periods_per_year_for_timeframe(FALLBACK_TIMEFRAME)
        metrics = compute_metrics(equity, trades, periods_per_year=ppy)
    perf.total_return = metrics.total_return
    perf.max_drawdown = metrics.max_drawdown
    perf.sharpe = metrics.sharpe
    perf.sortino = metrics.sortino
    return perf


def _figures(subscription_id: str, snapshot: Snapshot | None) -> pb.Performance:
    if snapshot is None:
        zero = "0"
        return pb.Performance(
            subscription_id=subscription_id,
            equity=zero,
            realized_pnl=zero,
            unrealized_pnl=zero,
            fees=zero,
            exposure=zero,
        )
    return pb.Performance(
        subscription_id=subscription_id,
        equity=dec_str(snapshot.equity),
        realized_pnl=dec_str(snapshot.realized_pnl),
        unrealized_pnl=dec_str(snapshot.unrealized_pnl),
        fees=dec_str(snapshot.fees),
        exposure=dec_str(snapshot.exposure),
        as_of=ts(snapshot.time),
    )


def _floats(values: Sequence[Decimal]) -> np.ndarray:  # type: ignore[type-arg]
    return np.array([float(v) for v in values], dtype=np.float64)
