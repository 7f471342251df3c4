"""The bot runtime's memory of a subscription between ticks (table bot_runtime): why it is
halted, its equity peak, its run of failed orders, and its tick times.

A halt (the drawdown kill switch, repeated order failures) stops the bot's trading at once,
and the tick asks credential_svc to pause the subscription with the rule as its reason. The
halt is lifted, and the equity peak forgotten, when the principal resumes the subscription
(`lift_halt`, from the change stream's "resumed" entry): the principal saying "go on".
Writes are upserts keyed by the subscription, so any replica may write.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from mesh.db import utcnow
from trading_svc.tables import bot_runtime

# Failed orders in a row after which a bot halts itself rather than hammer the exchange.
MAX_FAILURES = 3


@dataclass(frozen=True)
class RuntimeState:
    subscription_id: str
    halted_reason: str = ""
    halted_message: str = ""
    halted_until: datetime | None = None
    peak_equity: Decimal | None = None
    failures: int = 0
    backoff_until: datetime | None = None
    last_tick_time: datetime | None = None
    next_tick_time: datetime | None = None
    last_snapshot_time: datetime | None = None

    @property
    def halted(self) -> bool:
        return bool(self.halted_reason)

    def halt(self, reason: str, message: str) -> RuntimeState:
        return replace(self, halted_reason=reason, halted_message=message[:255])


class RuntimeStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self, subscription_id: str) -> RuntimeState:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(bot_runtime).where(bot_runtime.c.subscription_id == subscription_id)
                )
            ).first()
        return RuntimeState(subscription_id) if row is None else _state(row)

    async def get_many(self, subscription_ids: list[str]) -> dict[str, RuntimeState]:
        """The states of many subscriptions in one read (absent ones: fresh states)."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                sa.select(bot_runtime).where(bot_runtime.c.subscription_id.in_(subscription_ids))
            )
            found = {r.subscription_id: _state(r) for r in rows}
        return {sid: found.get(sid) or RuntimeState(sid) for sid in subscription_ids}

    async def put(self, state: RuntimeState, before: RuntimeState | None = None) -> None:
        """Writes the state; with `before` (what the writer read), only the columns it
        changed, so a concurrent write of others (the principal's resume lifting a halt
        while a tick runs) is not undone by the tick's write-back."""
        await self.put_many([(state, before)])

    async def put_many(self, pairs: list[tuple[RuntimeState, RuntimeState | None]]) -> None:
        """`put` for many subscriptions in one transaction, one statement per set of changed
        columns (a batch of ticks mostly changes the same few)."""
        if not pairs:
            return
        now = utcnow()
        groups: dict[tuple[str, ...], list[dict[str, object]]] = defaultdict(list)
        for state, before in pairs:
            values = {**asdict(state), "update_time": now}
            changed = tuple(
                c
                for c in values
                if c != "subscription_id"
                and (before is None or c == "update_time" or getattr(before, c) != values[c])
            )
            groups[changed].append(values)
        async with self._engine.begin() as conn:
            for changed, rows in groups.items():
                await conn.execute(_upsert(conn.dialect.name, changed), rows)

    async def lift_halt(self, subscription_id: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                bot_runtime.update()
                .where(bot_runtime.c.subscription_id == subscription_id)
                .values(
                    halted_reason="",
                    halted_message="",
                    halted_until=None,
                    failures=0,
                    peak_equity=None,
                    update_time=utcnow(),
                )
            )


def _state(row: Any) -> RuntimeState:
    values = dict(row._mapping)
    values.pop("update_time", None)
    return RuntimeState(**values)


def _upsert(dialect: str, changed: tuple[str, ...]) -> sa.Executable:
    """INSERT of a whole row, or, when it exists, UPDATE of the `changed` columns only."""
    if dialect == "mysql":
        mine = mysql.insert(bot_runtime)
        return mine.on_duplicate_key_update({c: mine.inserted[c] for c in changed})
    lite = sqlite.insert(bot_runtime)
    return lite.on_conflict_do_update(
        index_elements=[bot_runtime.c.subscription_id],
        set_={c: lite.excluded[c] for c in changed},
    )
