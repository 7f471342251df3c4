"""GetTradingSubscription: one subscription as trading_svc sees it, with this service's verdict
on whether it may trade now. The one answer trading_svc gets about a subscription.

The entitlement rule stays here (entitlement.py): the answer carries the verdict and the
effective state, computed at the moment of asking, so trading_svc never re-derives it. Read
from the database on every call, never cached: a stop refuses orders from its commit on.

Scoping: with a principal, the subscription must belong to that principal's active user; one
it does not own is NOT_FOUND with the same message and reason as one that does not exist.
Without one (background work: reconciliation, winding down), any subscription is answered,
whatever its state, since winding down needs the credential of a stopped one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from credential_svc.identity.store import ACTIVE as USER_ACTIVE
from credential_svc.subscriptions.entitlement import may_trade
from credential_svc.subscriptions.model import ACTIVE, EXPIRED
from credential_svc.tables import exchange_credentials, subscriptions, users
from mesh.db import utcnow
from mesh.errors import NotFound


@dataclass(frozen=True)
class TradingView:
    subscription_id: str
    user_id: str
    credential_id: str
    exchange: str
    market: str
    allocation: Decimal
    state: str
    state_reason: str
    paid_until: datetime | None
    credential_state: str
    update_time: datetime
    may_trade: bool

    @property
    def effective_state(self) -> str:
        """ACTIVE with its paid time run out reads as EXPIRED, before the sweeper marks it."""
        return EXPIRED if self.state == ACTIVE and not self.may_trade else self.state


_COLUMNS = (
    subscriptions.c.subscription_id,
    subscriptions.c.user_id,
    subscriptions.c.credential_id,
    exchange_credentials.c.exchange,
    subscriptions.c.market,
    subscriptions.c.allocation,
    subscriptions.c.state,
    subscriptions.c.state_reason,
    subscriptions.c.paid_until,
    exchange_credentials.c.state.label("credential_state"),
    subscriptions.c.update_time,
)


class TradingSubscriptions:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self, subscription_id: str, principal: str = "") -> TradingView:
        query = (
            sa.select(*_COLUMNS)
            .join(
                exchange_credentials,
                exchange_credentials.c.credential_id == subscriptions.c.credential_id,
            )
            .where(subscriptions.c.subscription_id == subscription_id)
        )
        if principal:
            query = query.join(users, users.c.user_id == subscriptions.c.user_id).where(
                users.c.principal == principal, users.c.state == USER_ACTIVE
            )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise NotFound(
                f"subscription {subscription_id} does not exist", reason="SUBSCRIPTION_NOT_FOUND"
            )
        m = row._mapping
        return TradingView(
            **{k: m[k] for k in TradingView.__dataclass_fields__ if k not in _DERIVED},
            allocation=Decimal(m["allocation"]),
            may_trade=may_trade(m["state"], m["paid_until"], utcnow()),
        )


_DERIVED = ("allocation", "may_trade")
