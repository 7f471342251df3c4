"""The expiry sweeper: persists ACTIVE -> EXPIRED once paid_until passes, and announces it.

Reads already show such a subscription as EXPIRED from the instant its time runs out
(`SubscriptionRecord.as_of`), and credential release refuses it; the sweeper makes the row
say so too, so that trading_svc, which reads the state column and the change feed, stops
the bot. Each row flips by compare-and-set, so any number of credential_svc processes can
sweep at once and each expiry is written, audited and announced exactly once.

Rows with no paid_until are never swept: the API never makes an ACTIVE one (a new
subscription starts EXPIRED); such rows can only be written by operators, meaning "no end".
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import datetime

from credential_svc.subscriptions.events import ChangeFeed
from credential_svc.subscriptions.store import SubscriptionStore
from mesh.db import utcnow

log = logging.getLogger("botmesh.subscriptions")
INTERVAL_S = 5.0
BATCH = 500


class ExpirySweeper:
    def __init__(self, store: SubscriptionStore, feed: ChangeFeed) -> None:
        self._store = store
        self._feed = feed

    async def sweep(self, now: datetime | None = None) -> int:
        """Expires every subscription due at `now`; returns how many this call expired."""
        now = now or utcnow()
        expired = 0
        while True:
            due = await self._store.due_for_expiry(now, BATCH)
            for subscription_id in due:
                outcome = await self._store.expire(subscription_id, now)
                if outcome is not None:
                    sub, principal = outcome
                    await self._feed.publish("expired", sub, principal)
                    expired += 1
            if len(due) < BATCH:
                return expired

    async def run(self, interval_s: float = INTERVAL_S) -> None:
        while True:
            # Jitter, so the sweepers of several processes do not run in lockstep.
            await asyncio.sleep(interval_s * (0.75 + random.random() / 2))
            try:
                await self.sweep()
            except Exception:
                log.warning("expiry sweep failed", exc_info=True)
