"""The subscription-change feed: one Redis Stream entry per committed change, for trading_svc
to start and stop bots without polling the table.

`record` is the only way a change is announced: it appends the entry to the outbox on the
change's own connection, in its transaction (outbox.py), and the relay publishes it after
the commit (relay.py), exactly once. So a consumer that reacts to an entry finds the change
already visible, and a change that committed is announced even if Redis or the process
fails right after the commit.

The entry contract (trading_svc's follower and projection read it; keep it exactly):
identifiers (the credential's too: trading_svc drops its clients of a credential whose
subscription stops), `market`, `state` and `state_reason`, `paid_until` ("" if none),
`change` (created, paid, paused, paused_for_risk, resumed, canceled, expired, suspended,
unsuspended, erased),
`time` (when the change was made), `version` (the subscription's update_time; strictly
increasing per subscription, so newest wins), and `outbox_id` (added by the relay). Times are
ISO-8601 UTC with microseconds. No principal (erasure must leave no trail in Redis) and
nothing secret.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from credential_svc.subscriptions import outbox
from credential_svc.subscriptions.model import SubscriptionRecord
from mesh.changes import SUBSCRIPTION_CHANGES
from mesh.db import utcnow

STREAM = SUBSCRIPTION_CHANGES


def iso(when: datetime) -> str:
    """ISO-8601 UTC with microseconds, always the same width (so it also sorts as text)."""
    return when.isoformat(timespec="microseconds")


def entry(change: str, sub: SubscriptionRecord) -> dict[str, str]:
    return {
        "subscription_id": sub.subscription_id,
        "user_id": sub.user_id,
        "bot_id": sub.bot_id,
        "credential_id": sub.credential_id,
        "market": sub.market,
        "state": sub.state,
        "state_reason": sub.state_reason,
        "paid_until": iso(sub.paid_until) if sub.paid_until else "",
        "change": change,
        "time": iso(utcnow()),
        "version": iso(sub.update_time),
    }


async def record(conn: AsyncConnection, change: str, sub: SubscriptionRecord) -> None:
    """Announces `sub` (as written in this transaction) once the transaction commits."""
    await outbox.append(conn, STREAM, entry(change, sub))
