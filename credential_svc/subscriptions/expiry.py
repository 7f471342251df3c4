"""The expiry sweeper: persists ACTIVE -> EXPIRED once paid_until passes, and announces it.

Reads already show such a subscription as EXPIRED from the instant its time runs out
(`SubscriptionRecord.as_of`), and credential release refuses it; the sweeper makes the row
say so too, so that trading_svc, which reads the state column and the change feed, stops
the bot. Each row flips under its row lock only while still due, so any number of
credential_svc processes can sweep at once and each expiry is written, audited and announced
(through the outbox, in the same transaction) exactly once.

Rows with no paid_until are never swept: the API never makes an ACTIVE one (a new
subscription starts EXPIRED); such rows can only be written by operators, meaning "no end".
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import datetime

from credential_svc.subscriptions.store import SubscriptionStore
from mesh.db import utcnow

log = logging.getLogger("botmesh.subscriptions")
INTERVAL_S = 5.0
BATCH = 500


class ExpirySweeper:
    def __init__(self, store: SubscriptionStore) -> None:
        self._store = store

    async def sweep(self, now: datetime | None = None) -> int:
        """Expires every subscription due at `now`; returns how many this call expired."""
        now = now or utcnow()
        expired = 0
        while True:
            due = await self._store.due_for_expiry(now, BATCH)
            for subscription_id in due:
                if await self._store.expire(subscription_id, now) is not None:
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
