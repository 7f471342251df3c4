"""Candles from trading_svc or the venue (source.py), and the latest closed window, cached
(closed.py): shared by analyze/ and backtests/."""
