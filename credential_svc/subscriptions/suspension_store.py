"""SQL for suspensions, run inside the credential change's own transaction (vault/store.py):
the credential's new state and the states of the subscriptions that use it commit together,
so no reader ever sees a deleted or refused credential behind a subscription that still
reads ACTIVE. Rows are locked (FOR UPDATE) like every other subscription transition, and each
change is announced through the outbox in the same transaction (events.py): the callers
open it with `outbox.begin`."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from credential_svc.subscriptions import events, outbox
from credential_svc.subscriptions.model import CANCELED, SUSPENDED, SubscriptionRecord, versioned
from credential_svc.subscriptions.store import _sub as subscription_of
from credential_svc.subscriptions.suspension import erased, lift, suspend
from credential_svc.tables import subscriptions
from mesh.audit import AuditLog, Event


async def suspend_using(
    conn: AsyncConnection, audit: AuditLog, credential_id: str, reason: str, now: datetime
) -> list[SubscriptionRecord]:
    """Suspends every live subscription that trades with the credential; returns those
    that changed, each announced as "suspended"."""
    rows = (
        await conn.execute(
            sa.select(subscriptions)
            .where(
                subscriptions.c.credential_id == credential_id, subscriptions.c.state != CANCELED
            )
            .with_for_update()
        )
    ).all()
    changed = []
    for row in rows:
        before = subscription_of(row)
        outcome = suspend(before, reason, row.suspended_from, now)
        if outcome is None:
            continue
        sub = versioned(outcome.sub, before.update_time)
        await _write(conn, sub, outcome.suspended_from)
        await audit.record(
            conn,
            Event(
                "subscription.suspend",
                sub.subscription_id,
                {"state": SUSPENDED, "reason": reason, "credential_id": credential_id},
            ),
        )
        await events.record(conn, "suspended", sub)
        changed.append(sub)
    return changed


async def lift_using(
    conn: AsyncConnection, audit: AuditLog, credential_id: str, now: datetime
) -> list[SubscriptionRecord]:
    """Lifts the CREDENTIAL_REFUSED suspensions of the credential's subscriptions; returns
    those lifted, each announced as "unsuspended"."""
    rows = (
        await conn.execute(
            sa.select(subscriptions)
            .where(
                subscriptions.c.credential_id == credential_id,
                subscriptions.c.state == SUSPENDED,
            )
            .with_for_update()
        )
    ).all()
    changed = []
    for row in rows:
        before = subscription_of(row)
        lifted = lift(before, row.suspended_from, now)
        if lifted is None:
            continue
        lifted = versioned(lifted, before.update_time)
        await _write(conn, lifted, "")
        await audit.record(
            conn,
            Event(
                "subscription.unsuspend",
                lifted.subscription_id,
                {"state": lifted.state, "credential_id": credential_id},
            ),
        )
        await events.record(conn, "unsuspended", lifted)
        changed.append(lifted)
    return changed


class ErasureSteps:
    """The subscription side of erasing a user, before the keys are shredded: cancel every
    live subscription (USER_ERASED, announced as "erased"), then list them all for winding
    down."""

    def __init__(self, engine: AsyncEngine, audit: AuditLog) -> None:
        self._engine = engine
        self._audit = audit

    async def cancel_all(self, user_id: str, now: datetime) -> list[SubscriptionRecord]:
        async with outbox.begin(self._engine) as conn:
            return await cancel_live(conn, self._audit, user_id, now)

    async def cancel_in(self, conn: AsyncConnection, user_id: str, now: datetime) -> list[str]:
        """cancel_all inside a transaction of the caller's (the erasure's own): the ids."""
        return [s.subscription_id for s in await cancel_live(conn, self._audit, user_id, now)]

    async def all_ids(self, user_id: str) -> list[str]:
        query = sa.select(subscriptions.c.subscription_id).where(subscriptions.c.user_id == user_id)
        async with self._engine.connect() as conn:
            return list((await conn.execute(query)).scalars())


async def cancel_live(
    conn: AsyncConnection, audit: AuditLog, user_id: str, now: datetime
) -> list[SubscriptionRecord]:
    """Cancels every live subscription of the user (USER_ERASED) in `conn`'s transaction,
    each audited and announced as "erased" through the outbox. Used before the wind-down
    and again inside the erasure itself, for one created in between."""
    rows = (
        await conn.execute(
            sa.select(subscriptions)
            .where(subscriptions.c.user_id == user_id, subscriptions.c.state != CANCELED)
            .with_for_update()
        )
    ).all()
    changed = []
    for row in rows:
        before = subscription_of(row)
        sub = erased(before, now)
        if sub is None:
            continue
        sub = versioned(sub, before.update_time)
        await _write(conn, sub, "")
        await audit.record(
            conn,
            Event(
                "subscription.cancel",
                sub.subscription_id,
                {"state": CANCELED, "reason": sub.state_reason},
            ),
        )
        await events.record(conn, "erased", sub)
        changed.append(sub)
    return changed


async def _write(conn: AsyncConnection, sub: SubscriptionRecord, suspended_from: str) -> None:
    await conn.execute(
        subscriptions.update()
        .where(subscriptions.c.subscription_id == sub.subscription_id)
        .values(
            state=sub.state,
            state_reason=sub.state_reason,
            suspended_from=suspended_from,
            update_time=sub.update_time,
        )
    )
