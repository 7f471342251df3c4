"""What a subscription and a payment are, and the subscription state machine.

States encode two independent facts, the principal's intent and whether the rental is paid:

    ACTIVE    wants to trade, paid until `paid_until` (or with no end, paid_until unset)
    EXPIRED   wants to trade, not paid (never paid, or `paid_until` passed): not trading
    PAUSED    the principal stopped it; payment keeps accruing time, trading does not
    CANCELED  terminal
    SUSPENDED its credential cannot be used (deleted, or refused by a re-verify); see
              suspension.py. Payments keep accruing time; the principal may only cancel.

`state_reason` says why a subscription is SUSPENDED or CANCELED (suspension.py's reasons),
or why the bot runtime PAUSED it (RISK_*: its kill switch, or orders refused again and again).
A risk pause pauses only an ACTIVE one (`paused_for_risk`); a principal's own pause sets no
reason, and resuming clears the risk reason along with the pause.

A new subscription starts EXPIRED with no paid_until: a rental nobody has paid for must not
trade, and every reader of the table (credential release, GetTradingSubscription)
already treats anything but ACTIVE as "not trading", so the unpaid case fails closed
everywhere without those readers knowing about payments. The first RecordPayment activates it.

Repeating the state a subscription is already in (pause a paused one, resume an active or
expired one, cancel a canceled one) changes nothing and is not an error, so a retry without
an Idempotency-Key is harmless. Leaving CANCELED is FAILED_PRECONDITION.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from mesh.errors import FailedPrecondition, InvalidArgument

ACTIVE, PAUSED, CANCELED, EXPIRED = "ACTIVE", "PAUSED", "CANCELED", "EXPIRED"
SUSPENDED = "SUSPENDED"
CANCELED_BY_USER = "CANCELED_BY_USER"
RISK_MAX_DRAWDOWN = "RISK_MAX_DRAWDOWN"
RISK_ORDER_FAILURES = "RISK_ORDER_FAILURES"
RISK_REASONS = frozenset({RISK_MAX_DRAWDOWN, RISK_ORDER_FAILURES})
RiskValues = Mapping[str, str | int]


@dataclass(frozen=True)
class SubscriptionRecord:
    subscription_id: str
    user_id: str
    bot_id: str
    credential_id: str
    market: str
    allocation: Decimal
    risk_overrides: RiskValues
    state: str
    paid_until: datetime | None
    create_time: datetime
    update_time: datetime
    # The listing rented and its price as agreed at subscribe time: price_e8s per
    # period_days. None only on rows made before subscriptions were priced.
    listing_id: str | None = None
    price_e8s: int | None = None
    period_days: int | None = None
    state_reason: str = ""

    def as_of(self, now: datetime) -> SubscriptionRecord:
        """The state a reader should see: an ACTIVE subscription whose paid time has run out
        is EXPIRED from that instant, before the expiry sweeper gets to persist it."""
        if self.state == ACTIVE and self.paid_until is not None and self.paid_until <= now:
            return replace(self, state=EXPIRED)
        return self


@dataclass(frozen=True)
class PaymentRecord:
    payment_id: str
    subscription_id: str
    ledger: str
    block_index: int
    amount_e8s: int
    period_days: int
    paid_until: datetime
    create_time: datetime


Rule = Callable[["SubscriptionRecord", datetime], "SubscriptionRecord"]


def _canceled(sub: SubscriptionRecord, verb: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"subscription {sub.subscription_id} is canceled; it cannot be {verb}",
        reason="SUBSCRIPTION_CANCELED",
    )


def _suspended(sub: SubscriptionRecord, verb: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"subscription {sub.subscription_id} is suspended ({sub.state_reason.lower()}); "
        f"it cannot be {verb}",
        reason="SUBSCRIPTION_SUSPENDED",
        metadata={"state_reason": sub.state_reason},
    )


def paused(sub: SubscriptionRecord, now: datetime) -> SubscriptionRecord:
    current = sub.as_of(now)
    if current.state == CANCELED:
        raise _canceled(sub, "paused")
    if current.state == SUSPENDED:
        raise _suspended(sub, "paused")
    return replace(current, state=PAUSED)


def check_risk_reason(reason: str) -> None:
    """A risk pause gives one of the RISK_* reasons, else INVALID_ARGUMENT on `reason`."""
    if reason not in RISK_REASONS:
        raise InvalidArgument.for_field(
            "reason", f"must be one of {', '.join(sorted(RISK_REASONS))}"
        )


def paused_for_risk(sub: SubscriptionRecord, reason: str) -> SubscriptionRecord:
    """The bot runtime's pause, with its RISK_* reason: only the stored state ACTIVE is
    paused (paid up or not: the runtime acts on what it was running). One already PAUSED
    stands as it is, keeping its reason (a second kill switch changes nothing); any other
    state is FAILED_PRECONDITION SUBSCRIPTION_NOT_ACTIVE."""
    check_risk_reason(reason)
    if sub.state == PAUSED:
        return sub
    if sub.state != ACTIVE:
        raise FailedPrecondition(
            f"subscription {sub.subscription_id} is {sub.state.lower()}; "
            "only an active one is paused for risk",
            reason="SUBSCRIPTION_NOT_ACTIVE",
            metadata={"state": sub.state},
        )
    return replace(sub, state=PAUSED, state_reason=reason)


def resumed(sub: SubscriptionRecord, now: datetime) -> SubscriptionRecord:
    """PAUSED goes back to ACTIVE if paid, else to EXPIRED (waiting for a payment), and a
    risk pause's reason goes with the pause."""
    current = sub.as_of(now)
    if current.state == CANCELED:
        raise _canceled(sub, "resumed")
    if current.state == SUSPENDED:
        raise _suspended(sub, "resumed")
    if current.state != PAUSED:
        return current
    paid = current.paid_until is not None and current.paid_until > now
    return replace(current, state=ACTIVE if paid else EXPIRED, state_reason="")


def canceled(sub: SubscriptionRecord, now: datetime) -> SubscriptionRecord:
    """CANCELED by its principal; a canceled one keeps the reason it was canceled for."""
    if sub.state == CANCELED:
        return sub
    return replace(sub.as_of(now), state=CANCELED, state_reason=CANCELED_BY_USER)


def credited(sub: SubscriptionRecord, now: datetime, period_days: int) -> SubscriptionRecord:
    """A payment adds `period_days` from the later of now and the current paid_until, so
    paying early never loses time and paying late does not back-date. It activates an
    EXPIRED subscription and leaves a PAUSED or SUSPENDED one as it is."""
    current = sub.as_of(now)
    if current.state == CANCELED:
        raise _canceled(sub, "paid for")
    start = max(now, current.paid_until) if current.paid_until is not None else now
    state = current.state if current.state in (PAUSED, SUSPENDED) else ACTIVE
    return replace(current, state=state, paid_until=start + timedelta(days=period_days))


def changed(before: SubscriptionRecord, after: SubscriptionRecord) -> bool:
    return (before.state, before.paid_until, before.state_reason) != (
        after.state,
        after.paid_until,
        after.state_reason,
    )


def versioned(after: SubscriptionRecord, previous: datetime) -> SubscriptionRecord:
    """`after` with an update_time strictly after `previous` (the row's before the change).
    update_time is the change's version on the change stream, where the newest wins; a
    clock that did not move (same microsecond) or moved back must not reuse or lower it."""
    if after.update_time > previous:
        return after
    return replace(after, update_time=previous + timedelta(microseconds=1))
