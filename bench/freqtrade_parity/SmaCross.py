"""SMA(20)/SMA(50) crossover for freqtrade: the rule of botmesh's `ma_crossover` strategy
(analysis_svc/domain/strategies/ma_crossover.py) with fast=20, slow=50.

Enter when SMA(20) crosses above SMA(50), exit when it crosses below; no ROI, no stoploss,
no trailing, so every exit is an exit signal (or the end of the data). Loaded by freqtrade
from this folder (bench/freqtrade_parity/run.py passes --strategy-path).
"""

import talib.abstract as ta
from freqtrade.strategy import IStrategy
from pandas import DataFrame


class SmaCross(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "1h"
    can_short = False
    minimal_roi = {"0": 100.0}  # never
    stoploss = -0.99  # never on these paths
    trailing_stop = False
    use_exit_signal = True
    exit_profit_only = False
    ignore_roi_if_entry_signal = False
    process_only_new_candles = True
    startup_candle_count = 50

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["sma_fast"] = ta.SMA(dataframe, timeperiod=20)
        dataframe["sma_slow"] = ta.SMA(dataframe, timeperiod=50)
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        diff = dataframe["sma_fast"] - dataframe["sma_slow"]
        dataframe.loc[(diff.shift(1) <= 0) & (diff > 0), "enter_long"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        diff = dataframe["sma_fast"] - dataframe["sma_slow"]
        dataframe.loc[(diff.shift(1) >= 0) & (diff < 0), "exit_long"] = 1
        return dataframe
