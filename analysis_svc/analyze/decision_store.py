"""Records computed decisions in the `decisions` table: an audit trail of what the strategy
and the advisor said for each candle, written once per cache key by the single-flight winner.

Write-behind, in batches: a transaction per decision capped uncached Analyze at ~100/s on the
development machine (the commit, not the analysis, was the cost), while one multi-row
INSERT per fifth of a second keeps it at the strategy's own speed. The trail is best effort
by design: a decision is valid and cached whether or not its row was written; rows pending
at a graceful shutdown are flushed, a crash loses at most one interval's worth.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from analysis_svc.analyze.decision import Decision
from analysis_svc.tables import decisions
from mesh.db import utcnow
from mesh.ids import new_id

log = logging.getLogger("botmesh.analysis.decisions")

FLUSH_INTERVAL_S = 0.2
BATCH = 500
MAX_PENDING = 20_000  # beyond this the database is down or far behind: drop, do not grow

# A decision recomputed after its cache entry expired keeps its first row.
_INSERT = (
    sa.insert(decisions)
    .prefix_with("IGNORE", dialect="mysql")
    .prefix_with("OR IGNORE", dialect="sqlite")
)


class DecisionStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._pending: list[dict[str, Any]] = []
        self._dropped = 0

    def record(self, cache_key: str, decision: Decision) -> None:
        """Queues the row; `run()` (or `flush()`) writes it. Never blocks or raises."""
        if len(self._pending) >= MAX_PENDING:
            self._dropped += 1
            return
        self._pending.append(_row(cache_key, decision))

    async def flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:BATCH], self._pending[BATCH:]
            try:
                async with self._engine.begin() as conn:
                    await conn.execute(_INSERT, batch)
            except Exception:
                log.warning("could not record %d decisions", len(batch), exc_info=True)
        if self._dropped:
            log.warning("dropped %d decision records: the database fell behind", self._dropped)
            self._dropped = 0

    async def run(self) -> None:
        """The background writer; flushes what is left when cancelled (shutdown)."""
        try:
            while True:
                await asyncio.sleep(FLUSH_INTERVAL_S)
                await self.flush()
        finally:
            await self.flush()


def _row(cache_key: str, decision: Decision) -> dict[str, Any]:
    return {
        "decision_id": new_id("dec"),
        "cache_key": cache_key,
        "exchange": decision.exchange,
        "market": decision.market,
        "timeframe": decision.timeframe,
        "candle_time": datetime.fromtimestamp(decision.candle_time_ms / 1000, UTC),
        "strategy": decision.strategy,
        "action": decision.signal.action.value,
        "confidence": decision.signal.confidence,
        "rationale": decision.signal.rationale[:512],
        "advisor": decision.advisor[:64],
        "detail": {
            "strategy_params": decision.strategy_params,
            "strategy_signal": decision.strategy_signal.to_json_dict(),
            "outcome": decision.outcome,
            "prompt_version": decision.prompt_version,
        },
        "create_time": utcnow(),
    }
