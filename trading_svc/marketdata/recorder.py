"""Write-through of the closed candles the market-data path fetched anyway.

Every venue answer ListCandles and the runtime's scheduler get is offered here; what it
proves (chunks.proven: closed candles, and where the store then holds them all) is merged
into the store by a task of its own, so the caller never waits for the database. The store
is a copy of the venue's history, so a write that fails or is dropped loses nothing: the
range is backfilled on demand later. At most MAX_PENDING writes wait at once; past that an
answer is not recorded (a flood of pages must not pile up tasks and memory).

The scheduler asks for the latest closed candles every round, and most rounds bring nothing
new: what this process has already recorded per series (its coverage, for the last
MAX_SERIES series used) is remembered, and an answer inside it is not written again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

from trading_svc.marketdata.candle_store import CandleStore
from trading_svc.marketdata.chunks import Interval, Proven, Series, missing, union

log = logging.getLogger("botmesh.trading.candles")
MAX_PENDING = 64
MAX_SERIES = 1024
MAX_INTERVALS = 64


class CandleRecorder:
    def __init__(self, store: CandleStore | None, max_pending: int = MAX_PENDING) -> None:
        self._store = store
        self._max_pending = max_pending
        self._pending: set[asyncio.Task[None]] = set()
        self._recorded: OrderedDict[Series, list[Interval]] = OrderedDict()

    def record(self, series: Series, found: Proven) -> None:
        """Schedules the write of `found`; returns at once."""
        if self._store is None or not found.covered or len(self._pending) >= self._max_pending:
            return
        known = self._recorded.get(series, [])
        if not any(missing(known, lo, hi) for lo, hi in found.covered):
            self._recorded.move_to_end(series)
            return  # recorded already by this process
        task = asyncio.create_task(self._write(self._store, series, found))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _write(self, store: CandleStore, series: Series, found: Proven) -> None:
        try:
            await store.record(series, found)
            merged = union([*self._recorded.get(series, []), *found.covered])
            self._recorded[series] = merged[-MAX_INTERVALS:]  # the newest stretches
            self._recorded.move_to_end(series)
            while len(self._recorded) > MAX_SERIES:
                self._recorded.popitem(last=False)
        except Exception as exc:  # a copy: the range is backfilled when next needed
            log.warning(
                "candles not recorded",
                extra={"fields": {"series": ":".join(series), "error": type(exc).__name__}},
            )

    async def drain(self) -> None:
        """Waits for the writes scheduled so far (shutdown, tests)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
