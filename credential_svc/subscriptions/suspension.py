"""Why a subscription stopped, and when a stop lifts: the credential side of the state machine.

A subscription trades only with a usable credential. When its credential stops being usable
the subscription becomes SUSPENDED, with the reason:

    CREDENTIAL_DELETED  the principal deleted (shredded) the key. Permanent: a deleted
                        credential never comes back, so only cancelling remains.
    CREDENTIAL_REFUSED  a re-verify refused the key (withdrawal enabled, trading disabled).
                        Lifted by a later verify that accepts the same credential: the
                        principal fixed the key on the exchange and expects the rental back.

A lifted suspension returns to where the subscription was: PAUSED stays the principal's
pause; otherwise ACTIVE when paid up (or when it was ACTIVE with no end date), else EXPIRED.
So a lift never starts trading that was not paid for or that the principal had paused.

CANCELED is never suspended (terminal), and a deleted credential outranks a refused one.
Ends for other reasons live in model.py (CANCELED_BY_USER) and the identity store
(USER_ERASED).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from credential_svc.subscriptions.model import (
    ACTIVE,
    CANCELED,
    EXPIRED,
    PAUSED,
    SUSPENDED,
    SubscriptionRecord,
)

CREDENTIAL_DELETED = "CREDENTIAL_DELETED"
CREDENTIAL_REFUSED = "CREDENTIAL_REFUSED"
USER_ERASED = "USER_ERASED"


@dataclass(frozen=True)
class Suspended:
    """A subscription after a suspension, and the state a lift would return it to."""

    sub: SubscriptionRecord
    suspended_from: str


def suspend(
    sub: SubscriptionRecord, reason: str, suspended_from: str, now: datetime
) -> Suspended | None:
    """The subscription suspended for `reason`; None when nothing changes (canceled, or
    already suspended for this reason or for the permanent one). `suspended_from` is what
    the row remembers already ("" when it is not suspended)."""
    if sub.state == CANCELED:
        return None
    if sub.state == SUSPENDED:
        if sub.state_reason in (reason, CREDENTIAL_DELETED):
            return None
        return Suspended(replace(sub, state_reason=reason, update_time=now), suspended_from)
    current = sub.as_of(now)
    return Suspended(
        replace(current, state=SUSPENDED, state_reason=reason, update_time=now), current.state
    )


def erased(sub: SubscriptionRecord, now: datetime) -> SubscriptionRecord | None:
    """CANCELED because its user is being erased; None when it is canceled already."""
    if sub.state == CANCELED:
        return None
    return replace(sub.as_of(now), state=CANCELED, state_reason=USER_ERASED, update_time=now)


def lift(sub: SubscriptionRecord, suspended_from: str, now: datetime) -> SubscriptionRecord | None:
    """The subscription after its credential was accepted again; None unless it is
    suspended because the credential was refused."""
    if sub.state != SUSPENDED or sub.state_reason != CREDENTIAL_REFUSED:
        return None
    if suspended_from == PAUSED:
        state = PAUSED
    elif sub.paid_until is not None:
        state = ACTIVE if sub.paid_until > now else EXPIRED
    else:  # never paid, unless it was ACTIVE with no end date
        state = ACTIVE if suspended_from == ACTIVE else EXPIRED
    return replace(sub, state=state, state_reason="", update_time=now)
