"""Closed candles of the markets dashboards watch, recorded in the candle store.

The bot runtime's scheduler asks the exchange for every close of the markets bots trade, and
that answer is written through to the store (MarketData.closed). A market only a dashboard
watches has no scheduler asking, so while a local price stream wants a pair this asks the
exchange for the pair's 1-minute closes every POLL_S, from the one after the last it saw:
whatever the venue clock's speed, every close while the pair is watched reaches the store
(the first ask takes the latest closes). A failed ask is logged and asked again next round;
the store is a copy of the venue, so a close missed here is backfilled when it is read.
"""

from __future__ import annotations

import asyncio
import logging

from mesh.errors import DomainError
from quant.periods import TIMEFRAME_MS
from trading_svc.marketdata.keys import Pair
from trading_svc.marketdata.service import MarketData

log = logging.getLogger("botmesh.trading.candles")
TIMEFRAME = "1m"
POLL_S = 15.0
CATCH_UP = 1000  # closes asked for at once: the venue's page


class DashboardCloses:
    def __init__(self, data: MarketData, poll_s: float = POLL_S) -> None:
        self._data = data
        self._poll_s = poll_s
        self._tasks: dict[Pair, asyncio.Task[None]] = {}

    def demand(self, pair: Pair, consumers: int) -> None:
        """Called with the hub's local stream count of a pair: watches it from the first
        stream to the last."""
        task = self._tasks.get(pair)
        if consumers > 0 and (task is None or task.done()):
            self._tasks[pair] = asyncio.create_task(self._watch(pair))
        elif consumers == 0 and task is not None:
            task.cancel()
            del self._tasks[pair]

    async def _watch(self, pair: Pair) -> None:
        since: int | None = None
        while True:
            try:
                rows = await self._data.closed(pair, TIMEFRAME, since, CATCH_UP)
                if rows:
                    since = int(rows[-1][0]) + TIMEFRAME_MS[TIMEFRAME]
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # public data: the reason or the type says enough
                reason = exc.reason if isinstance(exc, DomainError) else type(exc).__name__
                log.info(
                    "dashboard closes not read",
                    extra={"fields": {"pair": ":".join(pair), "reason": reason}},
                )
            await asyncio.sleep(self._poll_s)

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()
