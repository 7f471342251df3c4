"""Analysis domain: candles, indicators, strategies, signals, the backtest engine and the
advisor's pure parts.

Plain Python and numpy: no grpc, protobuf, Redis, SQL or network here. Errors are mesh's
(mesh/errors.py, grpc-free). Import from the submodules.
"""
