"""Analysis domain: indicators, strategies, advisor, decision cache and backtests.

Plain Python and numpy: no grpc or protobuf here. Import from the submodules.
"""
