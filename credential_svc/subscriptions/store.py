"""SQL for subscriptions and payments.

Every read and write a principal can reach filters by their user_id, so another principal's
subscription is simply absent. State changes lock the row (SELECT ... FOR UPDATE), let the
domain decide, then write the change, its audit row and its change-stream entry (events.py,
through the outbox) in the same transaction: two concurrent transitions, or a transition
racing a payment, serialise on the row instead of overwriting each other, and each change
is announced once, after its commit. Every write moves update_time strictly forward
(`model.versioned`): it is the entry's version. The only unscoped queries are the expiry
sweeper's and the bot runtime's risk pause (internal, by subscription id alone).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from credential_svc.identity.store import ACTIVE as USER_ACTIVE
from credential_svc.subscriptions import events, outbox
from credential_svc.subscriptions.model import (
    ACTIVE,
    EXPIRED,
    PaymentRecord,
    SubscriptionRecord,
    changed,
    versioned,
)
from credential_svc.tables import payments, subscriptions, users
from mesh.audit import AuditLog, Detail, Event
from mesh.db import keyset_after

Decide = Callable[[SubscriptionRecord], SubscriptionRecord]


class BlockTaken(Exception):
    """Another transaction credited the same (ledger, block_index) first."""


@dataclass(frozen=True)
class Change:
    before: SubscriptionRecord
    after: SubscriptionRecord

    @property
    def changed(self) -> bool:
        return changed(self.before, self.after)


def _sub(row: Any) -> SubscriptionRecord:
    m = row._mapping
    return SubscriptionRecord(
        **{k: m[k] for k in SubscriptionRecord.__dataclass_fields__ if k != "allocation"},
        allocation=Decimal(m["allocation"]),
    )


def _payment(row: Any) -> PaymentRecord:
    return PaymentRecord(**{k: row._mapping[k] for k in PaymentRecord.__dataclass_fields__})


class SubscriptionStore:
    def __init__(self, engine: AsyncEngine, audit: AuditLog) -> None:
        self._engine = engine
        self._audit = audit

    async def insert(self, sub: SubscriptionRecord, event: Event) -> None:
        async with outbox.begin(self._engine) as conn:
            await conn.execute(subscriptions.insert().values(**sub.__dict__))
            await self._audit.record(conn, event)
            await events.record(conn, "created", sub)

    async def get_for_principal(
        self, principal: str, subscription_id: str
    ) -> SubscriptionRecord | None:
        """One round trip for the hottest read: the subscription, joined to the principal's
        active user (another principal's row does not match the join)."""
        query = (
            sa.select(subscriptions)
            .join(users, users.c.user_id == subscriptions.c.user_id)
            .where(
                subscriptions.c.subscription_id == subscription_id,
                users.c.principal == principal,
                users.c.state == USER_ACTIVE,
            )
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _sub(row)

    async def page(
        self, user_id: str, *, limit: int, after: tuple[datetime, str] | None
    ) -> list[SubscriptionRecord]:
        query = (
            sa.select(subscriptions)
            .where(
                subscriptions.c.user_id == user_id,
                keyset_after(subscriptions, "subscription_id", after),
            )
            .order_by(subscriptions.c.create_time.desc(), subscriptions.c.subscription_id.desc())
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_sub(r) for r in rows]

    async def transition(
        self,
        user_id: str | None,
        subscription_id: str,
        decide: Decide,
        action: str,
        announce: str,
        detail: Detail | None = None,
    ) -> Change | None:
        """Locks the user's subscription (any user's when `user_id` is None: the internal
        callers'), applies `decide` (which may raise a domain error, rolling back), and
        writes the result if it changed anything, audited as `action` (its state and reason,
        plus `detail`) and announced as `announce`. None: no such row."""
        async with outbox.begin(self._engine) as conn:
            before = await self._select(conn, user_id, subscription_id, lock=True)
            if before is None:
                return None
            change = Change(before, decide(before))
            if change.changed:
                change = Change(before, versioned(change.after, before.update_time))
                await self._write(conn, change.after)
                await events.record(conn, announce, change.after)
                await self._audit.record(
                    conn,
                    Event(
                        action,
                        subscription_id,
                        {
                            "state": change.after.state,
                            "reason": change.after.state_reason,
                            **(detail or {}),
                        },
                    ),
                )
        return change

    async def credit(
        self,
        user_id: str,
        payment: PaymentRecord,
        decide: Decide,
        replay: Callable[[PaymentRecord, SubscriptionRecord], None],
    ) -> tuple[PaymentRecord, Change] | None:
        """Records `payment` and the subscription change it buys, once per ledger block
        (`payment.paid_until` is replaced by the time the payment buys). A block already recorded is handed to `replay` (which raises if it is not this same
        payment) and returned as it was, with the subscription unchanged."""
        try:
            async with outbox.begin(self._engine) as conn:
                before = await self._select(conn, user_id, payment.subscription_id, lock=True)
                if before is None:
                    return None
                existing = await self._payment(conn, payment.ledger, payment.block_index)
                if existing is not None:
                    replay(existing, before)
                    return existing, Change(before, before)
                after = versioned(decide(before), before.update_time)
                assert after.paid_until is not None
                stored = replace(payment, paid_until=after.paid_until)
                await conn.execute(payments.insert().values(**stored.__dict__))
                await self._write(conn, after)
                await self._audit.record(conn, _payment_event(stored))
                if changed(before, after):
                    await events.record(conn, "paid", after)
        except IntegrityError:  # the block was credited concurrently, maybe to another sub
            raise BlockTaken from None
        return stored, Change(before, after)

    async def due_for_expiry(self, now: datetime, limit: int) -> list[str]:
        """ACTIVE subscriptions whose paid time has run out (unscoped: the sweeper's)."""
        query = (
            sa.select(subscriptions.c.subscription_id)
            .where(
                subscriptions.c.state == ACTIVE,
                subscriptions.c.paid_until.is_not(None),
                subscriptions.c.paid_until <= now,
            )
            .order_by(subscriptions.c.paid_until)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            return list((await conn.execute(query)).scalars())

    async def expire(self, subscription_id: str, now: datetime) -> SubscriptionRecord | None:
        """ACTIVE -> EXPIRED if still due, under the row lock; audited and announced. None
        when a payment, a pause or another sweeper got there first."""
        async with outbox.begin(self._engine) as conn:
            row = (
                await conn.execute(
                    sa.select(subscriptions)
                    .where(
                        subscriptions.c.subscription_id == subscription_id,
                        subscriptions.c.state == ACTIVE,
                        subscriptions.c.paid_until <= now,
                    )
                    .with_for_update()
                )
            ).first()
            if row is None:
                return None
            before = _sub(row)
            after = versioned(replace(before, state=EXPIRED, update_time=now), before.update_time)
            await self._write(conn, after)
            await self._audit.append(
                conn, "subscription.expire", subscription_id, {"state": EXPIRED}
            )
            await events.record(conn, "expired", after)
        return after

    async def _select(
        self, conn: AsyncConnection, user_id: str | None, subscription_id: str, *, lock: bool
    ) -> SubscriptionRecord | None:
        query = sa.select(subscriptions).where(subscriptions.c.subscription_id == subscription_id)
        if user_id is not None:
            query = query.where(subscriptions.c.user_id == user_id)
        if lock:
            query = query.with_for_update()
        row = (await conn.execute(query)).first()
        return None if row is None else _sub(row)

    async def _payment(
        self, conn: AsyncConnection, ledger: str, block_index: int
    ) -> PaymentRecord | None:
        row = (
            await conn.execute(
                sa.select(payments).where(
                    payments.c.ledger == ledger, payments.c.block_index == block_index
                )
            )
        ).first()
        return None if row is None else _payment(row)

    async def find_payment(self, ledger: str, block_index: int) -> PaymentRecord | None:
        async with self._engine.connect() as conn:
            return await self._payment(conn, ledger, block_index)

    async def _write(self, conn: AsyncConnection, sub: SubscriptionRecord) -> None:
        await conn.execute(
            subscriptions.update()
            .where(subscriptions.c.subscription_id == sub.subscription_id)
            .values(
                state=sub.state,
                state_reason=sub.state_reason,
                paid_until=sub.paid_until,
                update_time=sub.update_time,
            )
        )


def _payment_event(payment: PaymentRecord) -> Event:
    return Event(
        "payment.record",
        payment.payment_id,
        {
            "subscription_id": payment.subscription_id,
            "ledger": payment.ledger,
            "block_index": payment.block_index,
            "amount_e8s": payment.amount_e8s,
            "period_days": payment.period_days,
        },
    )
