"""Strategies on crafted series, parameter parsing, and latest-signal/series agreement."""

from __future__ import annotations

import numpy as np
import pytest

from analysis_svc.domain.candles import Candles
from analysis_svc.domain.errors import NotEnoughCandles
from analysis_svc.domain.signal import Action, Signal
from analysis_svc.domain.strategies import STRATEGIES, resolve_strategy
from analysis_svc.domain.synthetic import candles_from_closes
from mesh.errors import InvalidArgument


def head(c: Candles, n: int) -> Candles:
    return Candles(c.time_ms[:n], c.open[:n], c.high[:n], c.low[:n], c.close[:n], c.volume[:n])


def events(c: Candles, name: str, **params: int | float) -> list[tuple[int, int]]:
    series = resolve_strategy(name, params).signal_series(c)
    return [(int(i), int(series[i])) for i in np.flatnonzero(series)]


def test_registry_names() -> None:
    names = {"rsi_mean_reversion", "macd_cross", "ma_crossover", "bollinger_breakout"}
    assert set(STRATEGIES) == names


def test_rsi_dip_gives_buy_and_spike_gives_sell() -> None:
    calm = [100 + 0.5 * (-1) ** i for i in range(30)]
    dip = calm + [99 - 2 * k for k in range(1, 8)]
    signal = resolve_strategy("rsi_mean_reversion", {"period": "14"}).signal(
        candles_from_closes(dip)
    )
    assert signal.action is Action.BUY
    assert signal.indicators["rsi_14"] < 30 and 0.5 <= signal.confidence <= 1.0
    assert "oversold" in signal.rationale

    spike = calm + [101 + 2 * k for k in range(1, 8)]
    assert (
        resolve_strategy("rsi_mean_reversion").signal(candles_from_closes(spike)).action
        is Action.SELL
    )
    hold = resolve_strategy("rsi_mean_reversion").signal(candles_from_closes(calm))
    assert hold.action is Action.HOLD and hold.confidence == 0.5


def test_ma_crossover_buy_then_sell() -> None:
    closes = [100.0 - k for k in range(20)] + [81.0 + 2 * k for k in range(20)]
    closes += [closes[-1] - 2 * k for k in range(1, 21)]
    c = candles_from_closes(closes)
    ev = events(c, "ma_crossover", fast=3, slow=8)
    assert [e for _, e in ev] == [1, -1]
    buy_at, sell_at = ev[0][0], ev[1][0]
    assert 20 < buy_at < sell_at
    bound = resolve_strategy("ma_crossover", {"fast": 3, "slow": 8})
    buy = bound.signal(head(c, buy_at + 1))
    assert buy.action is Action.BUY and "golden cross" in buy.rationale
    assert set(buy.indicators) == {"sma_3", "sma_8", "close"}
    assert bound.signal(head(c, sell_at + 1)).action is Action.SELL
    assert bound.signal(head(c, sell_at + 2)).action is Action.HOLD  # cross is one bar


def test_macd_cross_buy_and_sell() -> None:
    closes = [100.0 - 0.5 * k for k in range(40)] + [80.0 + 0.8 * k for k in range(30)]
    closes += [closes[-1] - 1.0 * k for k in range(1, 30)]
    c = candles_from_closes(closes)
    ev = events(c, "macd_cross")
    assert [e for _, e in ev] == [1, -1]
    bound = resolve_strategy("macd_cross")
    buy = bound.signal(head(c, ev[0][0] + 1))
    assert buy.action is Action.BUY
    assert (
        buy.indicators["macd_hist"] > 0 and buy.indicators["macd"] > buy.indicators["macd_signal"]
    )
    sell = bound.signal(head(c, ev[1][0] + 1))
    assert sell.action is Action.SELL and sell.indicators["macd_hist"] < 0


def test_bollinger_breakout_buy_then_exit() -> None:
    flat = [100 + 0.3 * (-1) ** i for i in range(30)]
    closes = [*flat, 104.0, 105.0, 103.0, 99.0]
    c = candles_from_closes(closes)
    ev = events(c, "bollinger_breakout", period=20, nbdev="2")
    assert [e for e in ev if e[0] >= 30] == [(30, 1), (33, -1)]
    assert all(code == -1 for i, code in ev if i < 30)  # no breakout in the calm part
    buy = resolve_strategy("bollinger_breakout").signal(head(c, 31))
    assert buy.action is Action.BUY and buy.indicators["close"] > buy.indicators["bb_upper"]
    assert "broke above" in buy.rationale


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_latest_signal_agrees_with_series(name: str, walk: Candles) -> None:
    bound = resolve_strategy(name)
    series = bound.signal_series(walk)
    assert series.dtype == np.int8 and series.shape == walk.close.shape
    assert set(np.unique(series)) <= {-1, 0, 1}
    assert (series[: bound.min_candles - 1] == 0).all()
    for end in [*np.flatnonzero(series)[:5].tolist(), len(walk) - 1]:
        sig = bound.signal(head(walk, end + 1))
        assert sig.action is Action.from_code(int(series[end]))
        assert 0.0 <= sig.confidence <= 1.0 and sig.rationale
        assert all(np.isfinite(v) for v in sig.indicators.values())


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_min_candles_is_enforced(name: str, walk: Candles) -> None:
    bound = resolve_strategy(name)
    bound.signal(head(walk, bound.min_candles))
    with pytest.raises(NotEnoughCandles) as err:
        bound.signal(head(walk, bound.min_candles - 1))
    assert err.value.code == "FAILED_PRECONDITION" and err.value.needed == bound.min_candles


@pytest.mark.parametrize(
    ("name", "params", "bad"),
    [
        ("rsi_mean_reversion", {"period": "1"}, "period"),
        ("rsi_mean_reversion", {"period": "14.5"}, "period"),
        ("rsi_mean_reversion", {"period": "abc"}, "period"),
        ("rsi_mean_reversion", {"period": True}, "period"),
        ("rsi_mean_reversion", {"oversold": "nan"}, "oversold"),
        ("rsi_mean_reversion", {"overbought": 100}, "overbought"),
        ("rsi_mean_reversion", {"lookback": "3"}, "lookback"),
        ("ma_crossover", {"fast": "30", "slow": "10"}, "fast"),
        ("ma_crossover", {"slow": "1000"}, "slow"),
        ("macd_cross", {"signal": "0"}, "signal"),
        ("macd_cross", {"fast": 26, "slow": 26}, "fast"),
        ("bollinger_breakout", {"nbdev": "9"}, "nbdev"),
        ("bollinger_breakout", {"nbdev": "two"}, "nbdev"),
    ],
)
def test_bad_params_name_the_parameter(name: str, params: dict[str, str], bad: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        resolve_strategy(name, params)
    assert err.value.metadata["field"] == f"strategy.params.{bad}"
    assert err.value.reason == "INVALID_STRATEGY_PARAMETER"
    assert bad in str(err.value)


def test_unknown_strategy() -> None:
    with pytest.raises(InvalidArgument) as err:
        resolve_strategy("yolo")
    assert (err.value.metadata["field"], err.value.reason) == ("strategy.name", "UNKNOWN_STRATEGY")


def test_params_parse_strings_numbers_and_defaults() -> None:
    a = resolve_strategy("rsi_mean_reversion", {"period": "14", "oversold": "25"})
    b = resolve_strategy("rsi_mean_reversion", {"period": 14.0, "oversold": 25})
    assert a.params == b.params
    assert a.canonical_params() == b.canonical_params()
    assert a.canonical_params() == "overbought=70.0,oversold=25.0,period=14"
    assert resolve_strategy("macd_cross").params_dict() == {"fast": 12, "slow": 26, "signal": 9}
    assert (
        resolve_strategy("ma_crossover").recommended_candles
        > resolve_strategy("ma_crossover").min_candles
    )


def test_signal_validates_and_round_trips() -> None:
    with pytest.raises(ValueError):
        Signal(Action.BUY, 1.5, "x")
    s = Signal(Action.SELL, 0.7, "why", {"rsi_14": 75.0})
    assert Signal.from_json_dict(s.to_json_dict()) == s
