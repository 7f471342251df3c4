"""Whether a subscription may trade now: ACTIVE and paid up. One rule for every reader
(credential release, and GetTradingSubscription's verdict for trading_svc), so an expiry
takes effect the instant paid time runs out, before the sweeper marks the row.

The rule belongs to the subscriptions feature. Other features apply it in their use cases
(the vault's release decides on the state and paid time its store reads); stores, which
only read and write, never import it, so imports between features point from use cases
down to this rule and never from a store across to it."""

from __future__ import annotations

from datetime import datetime

from credential_svc.subscriptions.model import ACTIVE


def may_trade(state: str, paid_until: datetime | None, now: datetime) -> bool:
    # No paid_until on an ACTIVE row means no end date (the API never makes one unpaid).
    return state == ACTIVE and (paid_until is None or paid_until > now)
