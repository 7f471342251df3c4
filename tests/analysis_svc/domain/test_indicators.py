"""Indicators equal TA-Lib's own output and fail clearly on short input."""

from __future__ import annotations

import numpy as np
import pytest
import talib

from analysis_svc.domain import indicator_set, indicators
from analysis_svc.domain.candles import Candles
from analysis_svc.domain.errors import NotEnoughCandles
from mesh.errors import InvalidArgument


def _same(a: np.ndarray, b: np.ndarray) -> None:
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_allclose(a[~np.isnan(a)], b[~np.isnan(b)], rtol=0, atol=0)


def test_single_series_equal_talib(walk: Candles) -> None:
    c = walk.close
    _same(indicators.sma(c, 20), talib.SMA(c, timeperiod=20))
    _same(indicators.ema(c, 12), talib.EMA(c, timeperiod=12))
    _same(indicators.rsi(c, 14), talib.RSI(c, timeperiod=14))
    ref_atr = talib.ATR(walk.high, walk.low, c, timeperiod=14)
    _same(indicators.atr(walk.high, walk.low, c, 14), ref_atr)


def test_macd_and_bollinger_equal_talib(walk: Candles) -> None:
    c = walk.close
    m = indicators.macd(c, 12, 26, 9)
    for ours, ref in zip((m.macd, m.signal, m.hist), talib.MACD(c, 12, 26, 9), strict=True):
        _same(ours, ref)
    b = indicators.bollinger(c, 20, 2.5)
    bands = talib.BBANDS(c, timeperiod=20, nbdevup=2.5, nbdevdn=2.5, matype=talib.MA_Type.SMA)
    for ours, r in zip((b.upper, b.middle, b.lower), bands, strict=True):
        _same(ours, r)


@pytest.mark.parametrize(
    ("call", "needed"),
    [
        (lambda c: indicators.sma(c, 20), 20),
        (lambda c: indicators.ema(c, 20), 20),
        (lambda c: indicators.rsi(c, 14), 15),
        (lambda c: indicators.macd(c, 12, 26, 9).hist, 34),
        (lambda c: indicators.bollinger(c, 20, 2.0).upper, 20),
        (lambda c: indicators.atr(c, c, c, 14), 15),
    ],
)
def test_minimum_length_is_exact(call, needed: int, walk: Candles) -> None:  # type: ignore[no-untyped-def]
    out = call(walk.close[:needed])
    assert np.isfinite(out[-1]) and np.isnan(out[:-1]).all()
    with pytest.raises(NotEnoughCandles) as err:
        call(walk.close[: needed - 1])
    assert err.value.reason == "NOT_ENOUGH_CANDLES" and err.value.needed == needed


def test_named_set_latest_values(walk: Candles) -> None:
    snap = indicator_set.compute_indicators(walk)
    assert snap.candle_time_ms == int(walk.time_ms[-1])
    assert snap.latest["rsi_14"] == pytest.approx(talib.RSI(walk.close, 14)[-1])
    assert snap.latest["macd_hist"] == pytest.approx(talib.MACD(walk.close, 12, 26, 9)[2][-1])
    expected = {"sma_20", "sma_50", "ema_12", "ema_26", "bb_upper", "bb_middle", "bb_lower"}
    assert expected | {"atr_14", "macd", "macd_signal"} <= snap.latest.keys()
    assert all(np.isfinite(v) for v in snap.latest.values())
    assert snap.series["sma_20"].shape == walk.close.shape


def test_named_set_with_parameters(walk: Candles) -> None:
    snap = indicator_set.compute_indicators(walk, ["bb_10_1.5", "macd_5_10_3", "sma_7"])
    bb = {"bb_10_1.5_upper", "bb_10_1.5_middle", "bb_10_1.5_lower"}
    macd = {"macd_5_10_3", "macd_5_10_3_signal", "macd_5_10_3_hist"}
    assert set(snap.latest) == bb | macd | {"sma_7"}
    assert snap.latest["sma_7"] == pytest.approx(float(np.mean(walk.close[-7:])))


def test_named_set_too_short(walk: Candles) -> None:
    with pytest.raises(NotEnoughCandles) as err:
        indicator_set.compute_indicators(walk.tail(40))  # sma_50 needs 50
    assert err.value.metadata == {"needed": "50", "got": "40"}


@pytest.mark.parametrize("name", ["foo", "sma_1", "sma_9999", "macd_26_12_9", "bb_20_99"])
def test_unknown_indicator_names(name: str, walk: Candles) -> None:
    with pytest.raises(InvalidArgument) as err:
        indicator_set.compute_indicators(walk, [name])
    assert err.value.metadata["field"] == "indicators"


def test_macd_rejects_fast_not_below_slow(walk: Candles) -> None:
    with pytest.raises(InvalidArgument):
        indicators.macd(walk.close, 26, 12, 9)
