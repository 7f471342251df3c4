"""The decision record: one row per (subscription, candle), unique, the anchor that makes a
tick exactly-once across replicas, redeliveries and crashes.

A consumer first claims the row (`claim`): inserting it as "claimed" by itself. The unique
key lets one insert win; a loser reads the row:
- "done": the tick was processed; the redelivery is acknowledged and does nothing.
- "claimed" by another consumer whose claim is younger than the lease: it is working on it
  (a slow consumer whose message was reclaimed); leave it.
- "claimed" and older than the lease, or claimed by this same consumer (a restart under its
  own name): its holder died mid-tick. The claim is taken over with a compare-and-set on
  (claimed_by, claim_time), so of two rescuers only one proceeds.

A taken-over tick runs again from the start. That is safe because its order is keyed by the
tick (orders' intent key, runtime/tick.py): the rerun finds the order the dead holder placed
instead of placing another. `complete` writes the decision and marks the row done.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mesh.db import utcnow
from trading_svc.tables import bot_decisions as decisions

CLAIMED, DONE = "claimed", "done"
# What a claim found: the tick is now ours, was done already, or another live consumer holds it.
MINE, FINISHED, BUSY = "mine", "finished", "busy"


@dataclass(frozen=True)
class Decided:
    """What a tick decided and did, as recorded."""

    subscription_id: str
    candle_time: datetime
    action: str = ""
    confidence: float = 0.0
    rationale: str = ""
    advisor: str = ""
    outcome: str = ""
    reason: str = ""
    order_id: str | None = None
    side: str = ""
    quantity: Decimal | None = None
    price: Decimal | None = None
    risk_rule: str = ""
    risk_outcome: str = ""
    risk_message: str = ""
    complete_time: datetime | None = None


_FIELDS = tuple(f for f in Decided.__dataclass_fields__ if f not in ("subscription_id",))
Key = tuple[str, datetime]  # (subscription_id, candle_time)


class DecisionStore:
    def __init__(self, engine: AsyncEngine, lease: timedelta) -> None:
        self._engine = engine
        self._lease = lease

    async def claim(self, subscription_id: str, candle_time: datetime, consumer: str) -> str:
        """MINE when this consumer now holds the tick and must process it; FINISHED when its
        decision is recorded; BUSY when another consumer's claim is still within its lease
        (the tick must stay pending: that consumer may yet die)."""
        now = utcnow()
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    decisions.insert().values(
                        subscription_id=subscription_id,
                        candle_time=candle_time,
                        state=CLAIMED,
                        claimed_by=consumer,
                        claim_time=now,
                    )
                )
            return MINE
        except IntegrityError:
            pass
        key = (decisions.c.subscription_id == subscription_id) & (
            decisions.c.candle_time == candle_time
        )
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    sa.select(
                        decisions.c.state, decisions.c.claimed_by, decisions.c.claim_time
                    ).where(key)
                )
            ).first()
            if row is None or row.state == DONE:
                return FINISHED
            if row.claimed_by != consumer and now - row.claim_time < self._lease:
                return BUSY
            taken = await conn.execute(
                decisions.update()
                .where(
                    key,
                    decisions.c.state == CLAIMED,
                    decisions.c.claimed_by == row.claimed_by,
                    decisions.c.claim_time == row.claim_time,
                )
                .values(claimed_by=consumer, claim_time=now)
            )
            return MINE if taken.rowcount == 1 else BUSY

    async def claim_many(self, keys: list[Key], consumer: str) -> dict[Key, str]:
        """`claim` for a batch, in two statements: one insert that skips rows already there,
        then one read of them all. A row this call inserted (ours, stamped with this claim's
        time) is MINE, a done one FINISHED; the rare rest go through `claim` one by one."""
        if not keys:
            return {}
        now = utcnow()
        rows = [
            {
                "subscription_id": sid,
                "candle_time": at,
                "state": CLAIMED,
                "claimed_by": consumer,
                "claim_time": now,
            }
            for sid, at in keys
        ]
        async with self._engine.begin() as conn:
            ignore = "IGNORE" if conn.dialect.name == "mysql" else "OR IGNORE"
            await conn.execute(decisions.insert().prefix_with(ignore), rows)
        async with self._engine.connect() as conn:
            found = await conn.execute(
                sa.select(
                    decisions.c.subscription_id,
                    decisions.c.candle_time,
                    decisions.c.state,
                    decisions.c.claimed_by,
                    decisions.c.claim_time,
                ).where(
                    decisions.c.subscription_id.in_({sid for sid, _ in keys}),
                    decisions.c.candle_time.in_({at for _, at in keys}),
                )
            )
            seen = {(r.subscription_id, r.candle_time): r for r in found}
        answers: dict[Key, str] = {}
        for key in keys:
            row = seen.get(key)
            if row is not None and row.state == DONE:
                answers[key] = FINISHED
            elif row is not None and row.claimed_by == consumer and row.claim_time == now:
                answers[key] = MINE
            else:
                answers[key] = await self.claim(key[0], key[1], consumer)
        return answers

    async def complete_many(self, decided: list[Decided], consumer: str) -> set[Key]:
        """`complete` for a batch in one transaction; the keys whose records were written."""
        written: set[Key] = set()
        async with self._engine.begin() as conn:
            for d in decided:
                if await self._complete(conn, d, consumer):
                    written.add((d.subscription_id, d.candle_time))
        return written

    async def complete(self, decided: Decided, consumer: str) -> bool:
        """Records the decision; False when another consumer took the claim over meanwhile
        (its record stands)."""
        async with self._engine.begin() as conn:
            return await self._complete(conn, decided, consumer)

    @staticmethod
    async def _complete(conn: AsyncConnection, decided: Decided, consumer: str) -> bool:
        values = {f: getattr(decided, f) for f in _FIELDS if f != "candle_time"}
        values["complete_time"] = decided.complete_time or utcnow()
        done = await conn.execute(
            decisions.update()
            .where(
                decisions.c.subscription_id == decided.subscription_id,
                decisions.c.candle_time == decided.candle_time,
                decisions.c.state == CLAIMED,
                decisions.c.claimed_by == consumer,
            )
            .values(state=DONE, **values)
        )
        return bool(done.rowcount == 1)

    async def latest(self, subscription_id: str) -> Decided | None:
        """The newest recorded decision of a subscription."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(decisions)
                    .where(
                        decisions.c.subscription_id == subscription_id,
                        decisions.c.state == DONE,
                    )
                    .order_by(decisions.c.candle_time.desc())
                    .limit(1)
                )
            ).first()
        if row is None:
            return None
        return Decided(subscription_id, **{f: row._mapping[f] for f in _FIELDS})

    async def page(
        self, subscription_id: str, limit: int, before: datetime | None
    ) -> list[Decided]:
        """Recorded decisions, newest candle first, older than `before` when given."""
        query = sa.select(decisions).where(
            decisions.c.subscription_id == subscription_id, decisions.c.state == DONE
        )
        if before is not None:
            query = query.where(decisions.c.candle_time < before)
        async with self._engine.connect() as conn:
            rows = await conn.execute(query.order_by(decisions.c.candle_time.desc()).limit(limit))
            return [Decided(subscription_id, **{f: r._mapping[f] for f in _FIELDS}) for r in rows]

    async def count(self, subscription_id: str) -> int:
        async with self._engine.connect() as conn:
            return int(
                (
                    await conn.execute(
                        sa.select(sa.func.count()).where(
                            decisions.c.subscription_id == subscription_id,
                            decisions.c.state == DONE,
                        )
                    )
                ).scalar_one()
            )
