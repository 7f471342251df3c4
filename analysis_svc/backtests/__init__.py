"""Backtests: the use cases (service.py), the runner, its concurrency slots and the store."""
