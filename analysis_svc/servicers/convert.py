"""Analysis results and backtest rows to protobuf messages, and requests to plain values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botmesh.analysis.v1 import analysis_service_pb2 as pb
from botmesh.sizing.v1 import stake_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from analysis_svc.analyze.service import AnalyzeResult, IndicatorsResult
from analysis_svc.backtests.service import BacktestRequest
from analysis_svc.backtests.store import BacktestRow
from analysis_svc.domain.signal import Action, Signal
from mesh.timestamps import ts, ts_ms

ACTION_TO_PB = {
    Action.BUY: pb.SIGNAL_ACTION_BUY,
    Action.SELL: pb.SIGNAL_ACTION_SELL,
    Action.HOLD: pb.SIGNAL_ACTION_HOLD,
}
STATE_TO_PB = {
    "RUNNING": pb.BACKTEST_STATE_RUNNING,
    "SUCCEEDED": pb.BACKTEST_STATE_SUCCEEDED,
    "FAILED": pb.BACKTEST_STATE_FAILED,
    "CANCELED": pb.BACKTEST_STATE_CANCELED,
}


def ms(value: Timestamp) -> int:
    return int(value.ToMilliseconds())


def signal_to_pb(signal: Signal) -> pb.Signal:
    return pb.Signal(
        action=ACTION_TO_PB[signal.action],
        confidence=signal.confidence,
        rationale=signal.rationale,
    )


def indicators_to_pb(values: Mapping[str, float]) -> list[pb.IndicatorValue]:
    return [pb.IndicatorValue(name=k, value=v) for k, v in sorted(values.items())]


def analyze_to_pb(result: AnalyzeResult) -> pb.AnalyzeResponse:
    decision = result.decision
    return pb.AnalyzeResponse(
        signal=signal_to_pb(decision.signal),
        strategy_signal=signal_to_pb(decision.strategy_signal),
        indicators=indicators_to_pb(decision.indicators),
        advisor=decision.advisor,
        cached=result.cached,
        candle_time=ts_ms(decision.candle_time_ms),
    )


def indicators_response(result: IndicatorsResult) -> pb.GetIndicatorsResponse:
    return pb.GetIndicatorsResponse(
        indicators=indicators_to_pb(result.values), candle_time=ts_ms(result.candle_time_ms)
    )


def backtest_request(request: pb.CreateBacktestRequest) -> BacktestRequest:
    return BacktestRequest(
        strategy=request.strategy.name,
        params=dict(request.strategy.params),
        market=request.market,
        timeframe=request.timeframe,
        start_ms=ms(request.start_time),
        end_ms=ms(request.end_time),
        initial_balance=request.initial_balance,
        fee_rate=request.fee_rate,
        slippage_bps=request.slippage_bps,
        exchange=request.exchange,
        stake_fixed_quote=request.stake.fixed_quote,
        stake_fraction=request.stake.allocation_fraction,
        amount_step=request.amount_step,
    )


def stake_to_pb(fixed_quote: str, fraction: str) -> stake_pb2.Stake:
    """The stake as requested; unset (the whole balance) when neither is given."""
    if fixed_quote:
        return stake_pb2.Stake(fixed_quote=fixed_quote)
    if fraction:
        return stake_pb2.Stake(allocation_fraction=fraction)
    return stake_pb2.Stake()


def backtest_to_pb(row: BacktestRow) -> pb.Backtest:
    req = BacktestRequest.from_json(row.request)
    out = pb.Backtest(
        backtest_id=row.backtest_id,
        state=STATE_TO_PB[row.state],
        progress=row.progress,
        strategy=pb.StrategySpec(name=req.strategy, params=dict(req.params)),
        exchange=req.exchange,
        market=req.market,
        timeframe=req.timeframe,
        start_time=ts_ms(req.start_ms),
        end_time=ts_ms(req.end_ms),
        initial_balance=req.initial_balance,
        fee_rate=req.fee_rate,
        slippage_bps=req.slippage_bps,
        error=row.error,
        stake=stake_to_pb(req.stake_fixed_quote, req.stake_fraction),
        amount_step=req.amount_step,
        create_time=ts(row.create_time),
        complete_time=ts(row.complete_time),
    )
    if row.result is not None:
        _add_result(out, row.result)
    return out


def _add_result(out: pb.Backtest, result: Mapping[str, Any]) -> None:
    out.metrics.CopyFrom(pb.BacktestMetrics(**result["metrics"]))
    out.trades.extend(
        pb.BacktestTrade(
            entry_time=ts_ms(t["entry_time_ms"]),
            exit_time=ts_ms(t["exit_time_ms"]),
            entry_price=t["entry_price"],
            exit_price=t["exit_price"],
            quantity=t["quantity"],
            pnl=t["pnl"],
            fee=t["fee"],
        )
        for t in result["trades"]
    )
    out.equity_curve.extend(
        pb.EquityPoint(time=ts_ms(time_ms), equity=equity)
        for time_ms, equity in result["equity_curve"]
    )
