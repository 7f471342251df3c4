"""Whether a subscription may trade now: ACTIVE and paid up. One rule for every reader
(credential release, and GetTradingSubscription's verdict for trading_svc), so an expiry
takes effect the instant paid time runs out, before the sweeper marks the row."""

from __future__ import annotations

from datetime import datetime

from credential_svc.subscriptions.model import ACTIVE


def may_trade(state: str, paid_until: datetime | None, now: datetime) -> bool:
    # No paid_until on an ACTIVE row means no end date (the API never makes one unpaid).
    return state == ACTIVE and (paid_until is None or paid_until > now)
