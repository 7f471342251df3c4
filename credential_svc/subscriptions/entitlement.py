"""Whether a subscription may trade now: ACTIVE and paid up. One rule, in Python and as a
SQL condition, for every reader (credential release, principal resolution, trading_svc), so
an expiry takes effect the instant paid time runs out, before the sweeper marks the row.

The rule belongs to the subscriptions feature. Other features apply it in their use cases
(the vault's release decides on the state and paid time its store reads); stores, which
only read and write, never import it, so imports between features point from use cases
down to this rule and never from a store across to it."""

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
