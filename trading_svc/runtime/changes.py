"""A subscription's change, as its bot sees it: every change entry (paused, resumed,
cancelled, expired, suspended, paused for risk, paid) is a status change of the bot,
published once on the subscription's event stream; a resume also lifts the runtime's halt
and forgets the equity peak, since it is the principal saying "go on".

Every trading_svc process follows the change stream, so each entry reaches this in every
replica: a marker per entry in Redis (SET NX on its outbox id, kept a day) lets one of them
publish. Lifting a halt is an idempotent write and is done by all.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from redis.asyncio import Redis

from mesh.redis import OUTAGE_ERRORS
from trading_svc.events.log import EventLog
from trading_svc.orders.subscriptions import SubscriptionReader
from trading_svc.runtime.decisions import DecisionStore
from trading_svc.runtime.events import status_pb
from trading_svc.runtime.state import RuntimeStore

log = logging.getLogger("botmesh.trading.runtime")
MARKER_TTL_S = 86_400


class ChangeAnnouncer:
    def __init__(
        self,
        redis: Redis,
        runtime: RuntimeStore,
        subs: SubscriptionReader,
        decisions: DecisionStore,
        events: EventLog,
    ) -> None:
        self._redis = redis
        self._runtime = runtime
        self._subs = subs
        self._decisions = decisions
        self._events = events

    async def __call__(self, fields: Mapping[str, str]) -> None:
        sid = fields.get("subscription_id", "")
        if not sid:
            return
        if fields.get("change") == "resumed":
            await self._runtime.lift_halt(sid)
        outbox_id = fields.get("outbox_id", "")
        if not outbox_id or not await self._first(outbox_id):
            return
        sub = await self._subs.by_id(sid)
        if sub is None:
            return
        state = await self._runtime.get(sid)
        status = status_pb(sub, state, await self._decisions.latest(sid))
        await self._events.status_changed(sid, status)

    async def _first(self, outbox_id: str) -> bool:
        try:
            return bool(
                await self._redis.set(
                    f"botmesh:runtime:announced:{outbox_id}", "1", nx=True, ex=MARKER_TTL_S
                )
            )
        except OUTAGE_ERRORS:
            return False  # best effort, like every event
