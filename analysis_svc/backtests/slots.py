"""Concurrency caps on running backtests: per API key and in all, across every process.

A running backtest holds a leased slot (mesh/lease_slots.py) in its key's group and in the
cluster's; past either cap, CreateBacktest is RESOURCE_EXHAUSTED before any row exists. The
runner renews the slots on each heartbeat and frees them when the run ends, however it ends;
the slots of a process that died lapse with their lease.
"""

from __future__ import annotations

from redis.asyncio import Redis

from mesh.errors import ResourceExhausted
from mesh.lease_slots import LeasedSlots

PREFIX = "botmesh:analysis:backtest-slots:"
DEFAULT_PER_KEY = 4
DEFAULT_TOTAL = 32
ALL = f"{PREFIX}all"


def _key_group(api_key_id: str) -> str:
    return f"{PREFIX}key:{api_key_id}"


class BacktestSlots:
    def __init__(
        self,
        redis: Redis,
        *,
        per_key: int = DEFAULT_PER_KEY,
        total: int = DEFAULT_TOTAL,
        lease_ms: int = 10_000,
    ) -> None:
        if per_key < 1 or total < 1:
            raise ValueError("backtest caps must be positive")
        self._slots = LeasedSlots(redis, lease_ms=lease_ms)
        self.per_key = per_key
        self.total = total

    async def take(self, api_key_id: str, backtest_id: str) -> None:
        """Takes a slot, or raises RESOURCE_EXHAUSTED naming which cap is full."""
        groups = [(_key_group(api_key_id), self.per_key), (ALL, self.total)]
        full = await self._slots.take(backtest_id, groups)
        if full == 0:
            raise ResourceExhausted(
                f"this API key already runs {self.per_key} backtests; wait for one to finish",
                retry_after_s=1.0,
                reason="BACKTESTS_PER_KEY_LIMIT",
            )
        if full == 1:
            raise ResourceExhausted(
                "the service is running as many backtests as it may; try again shortly",
                retry_after_s=1.0,
                reason="BACKTESTS_LIMIT",
            )

    async def renew(self, api_key_id: str, backtest_id: str) -> None:
        await self._slots.renew(backtest_id, [_key_group(api_key_id), ALL])

    async def release(self, api_key_id: str, backtest_id: str) -> None:
        await self._slots.release(backtest_id, [_key_group(api_key_id), ALL])
