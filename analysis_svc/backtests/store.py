"""SQLAlchemy queries of the `backtests` table.

Every state change is a conditional UPDATE on `state = 'RUNNING'`, so a cancel from one
process and the completion in another cannot both win: whoever moves the row out of RUNNING
first decides its final state, and the loser sees rowcount 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from analysis_svc.tables import backtests
from mesh.db import utcnow

RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
CANCELED = "CANCELED"


@dataclass(frozen=True, slots=True)
class BacktestRow:
    backtest_id: str
    api_key_id: str
    principal: str
    state: str
    progress: float
    request: dict[str, Any]
    result: dict[str, Any] | None
    error: str
    create_time: datetime
    complete_time: datetime | None


class BacktestStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def insert(
        self, backtest_id: str, api_key_id: str, principal: str, request: dict[str, Any]
    ) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                sa.insert(backtests).values(
                    backtest_id=backtest_id,
                    api_key_id=api_key_id,
                    principal=principal,
                    state=RUNNING,
                    progress=0.0,
                    request=request,
                    result=None,
                    error="",
                    create_time=utcnow(),
                    complete_time=None,
                )
            )

    async def get(
        self, backtest_id: str, api_key_id: str, principal: str = ""
    ) -> BacktestRow | None:
        """Scoped to the key and principal that created it: anyone else's does not exist."""
        query = sa.select(backtests).where(
            backtests.c.backtest_id == backtest_id,
            backtests.c.api_key_id == api_key_id,
            backtests.c.principal == principal,
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else BacktestRow(**dict(row))

    async def set_progress(self, backtest_id: str, progress: float) -> bool:
        """False when the backtest is no longer running (canceled elsewhere)."""
        return await self._update_running(backtest_id, progress=progress)

    async def succeed(self, backtest_id: str, result: dict[str, Any]) -> bool:
        return await self._update_running(
            backtest_id, state=SUCCEEDED, progress=1.0, result=result, complete_time=utcnow()
        )

    async def fail(self, backtest_id: str, error: str) -> bool:
        return await self._update_running(
            backtest_id, state=FAILED, error=error[:512], complete_time=utcnow()
        )

    async def cancel(self, backtest_id: str) -> bool:
        return await self._update_running(backtest_id, state=CANCELED, complete_time=utcnow())

    async def _update_running(self, backtest_id: str, **values: Any) -> bool:
        statement = (
            sa.update(backtests)
            .where(backtests.c.backtest_id == backtest_id, backtests.c.state == RUNNING)
            .values(**values)
        )
        async with self._engine.begin() as conn:
            result = await conn.execute(statement)
        return bool(result.rowcount)
