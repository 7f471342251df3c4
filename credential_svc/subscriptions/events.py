"""The subscription-change feed: one Redis Stream entry per committed change, for trading_svc
to start and stop bots without polling the table.

Entries are published after the database commit, never inside the transaction: a consumer
that reacts to an entry must find the change already visible. Publishing is best effort,
because failing the RPC after its commit would make the caller retry a change that already
happened; the table stays the truth, and consumers reconcile from it when they start.

Fields are identifiers (the credential's too: trading_svc drops its clients of a credential
whose subscription stops), the state and its reason, and the paid-until time: no principal
(erasure must leave no trail in Redis) and nothing secret.
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis

from credential_svc.subscriptions.model import SubscriptionRecord
from mesh.changes import SUBSCRIPTION_CHANGES
from mesh.db import utcnow

STREAM = SUBSCRIPTION_CHANGES
MAXLEN = 100_000
log = logging.getLogger("botmesh.subscriptions")


def entry(change: str, sub: SubscriptionRecord) -> dict[str, str]:
    return {
        "subscription_id": sub.subscription_id,
        "user_id": sub.user_id,
        "bot_id": sub.bot_id,
        "credential_id": sub.credential_id,
        "market": sub.market,
        "state": sub.state,
        "state_reason": sub.state_reason,
        "paid_until": sub.paid_until.isoformat() if sub.paid_until else "",
        "change": change,
        "time": utcnow().isoformat(),
    }


class ChangeFeed:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def publish(self, change: str, sub: SubscriptionRecord, principal: str | None) -> None:
        await self._add(entry(change, sub))

    async def erased(self, sub: SubscriptionRecord) -> None:
        """Erasure canceled it."""
        await self._add(entry("erased", sub))

    async def _add(self, fields: dict[str, str]) -> None:
        try:
            await self._redis.xadd(
                STREAM,
                fields,  # type: ignore[arg-type]
                maxlen=MAXLEN,
                approximate=True,
            )
        except Exception:
            log.warning(
                "could not publish a subscription change",
                exc_info=True,
                extra={
                    "fields": {
                        "subscription_id": fields["subscription_id"],
                        "change": fields["change"],
                    }
                },
            )
