"""Subscriptions as trading_svc sees them, always through the acting principal.

Every user-scoped read joins users on the principal, so another principal's subscription is
NOT_FOUND, exactly like one that does not exist. Every order reads the subscription and its
credential's state here first, so a suspended or canceled subscription, or a credential no
longer ACTIVE (deleted, refused by a re-verify), refuses orders from the commit on, in
every process, whether or not the change stream has been read yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from credential_svc.subscriptions.entitlement import may_trade, may_trade_clause
from credential_svc.tables import exchange_credentials, subscriptions, users
from mesh.db import utcnow
from mesh.errors import FailedPrecondition, NotFound

ACTIVE = "ACTIVE"


@dataclass(frozen=True)
class Subscription:
    subscription_id: str
    user_id: str
    credential_id: str
    exchange: str
    market: str
    allocation: Decimal
    state: str
    paid_until: datetime | None
    credential_state: str = ACTIVE

    def trading(self) -> bool:
        return may_trade(self.state, self.paid_until, utcnow())

    @property
    def effective_state(self) -> str:
        """ACTIVE with its paid time run out reads as EXPIRED, before the sweeper marks it."""
        return "EXPIRED" if self.state == ACTIVE and not self.trading() else self.state

    def require_active(self) -> None:
        if not self.trading():
            raise FailedPrecondition(
                f"subscription {self.subscription_id} is {self.effective_state.lower()}, not active",
                reason="SUBSCRIPTION_NOT_ACTIVE",
                metadata={"state": self.effective_state},
            )
        if self.credential_state != ACTIVE:
            raise FailedPrecondition(
                f"the subscription's credential is {self.credential_state.lower()}, not active",
                reason="CREDENTIAL_NOT_ACTIVE",
                metadata={"credential_state": self.credential_state},
            )


def trading_clause() -> sa.ColumnElement[bool]:
    """Subscription.trading() as a condition on the subscriptions table, now."""
    return may_trade_clause(utcnow())


_COLUMNS = (
    subscriptions.c.subscription_id,
    subscriptions.c.user_id,
    subscriptions.c.credential_id,
    exchange_credentials.c.exchange,
    subscriptions.c.market,
    subscriptions.c.allocation,
    subscriptions.c.state,
    subscriptions.c.paid_until,
    exchange_credentials.c.state,
)


def _query() -> sa.Select[tuple[object, ...]]:
    return sa.select(*_COLUMNS).join(
        exchange_credentials,
        exchange_credentials.c.credential_id == subscriptions.c.credential_id,
    )


class SubscriptionReader:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def for_principal(self, principal: str | None, subscription_id: str) -> Subscription:
        query = (
            _query()
            .join(users, users.c.user_id == subscriptions.c.user_id)
            .where(
                subscriptions.c.subscription_id == subscription_id,
                users.c.principal == principal,
            )
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if principal is None or row is None:
            raise NotFound(
                f"subscription {subscription_id} does not exist", reason="SUBSCRIPTION_NOT_FOUND"
            )
        return Subscription(*row)  # type: ignore[arg-type, call-arg]

    async def by_id(self, subscription_id: str) -> Subscription | None:
        """For background work that acts for no caller (reconciliation)."""
        query = _query().where(subscriptions.c.subscription_id == subscription_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else Subscription(*row)  # type: ignore[arg-type, call-arg]
