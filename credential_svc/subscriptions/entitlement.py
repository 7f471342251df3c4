"""Whether a subscription may trade now: ACTIVE and paid up. One rule, in Python and as a
SQL condition, for every reader (credential release, principal resolution, trading_svc), so
an expiry takes effect the instant paid time runs out, before the sweeper marks the row."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from credential_svc.subscriptions.model import ACTIVE
from credential_svc.tables import subscriptions


def may_trade(state: str, paid_until: datetime | None, now: datetime) -> bool:
    # No paid_until on an ACTIVE row means no end date (the API never makes one unpaid).
    return state == ACTIVE and (paid_until is None or paid_until > now)


def may_trade_clause(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        subscriptions.c.state == ACTIVE,
        sa.or_(subscriptions.c.paid_until.is_(None), subscriptions.c.paid_until > now),
    )
