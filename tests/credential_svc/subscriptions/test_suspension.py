"""Suspension rules, as plain Python: a credential that stops being usable suspends its
subscriptions with the reason; only a refusal lifts, back to where the subscription was."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from credential_svc.subscriptions import model
from credential_svc.subscriptions.model import (
    ACTIVE,
    CANCELED,
    EXPIRED,
    PAUSED,
    SUSPENDED,
    SubscriptionRecord,
)
from credential_svc.subscriptions.suspension import (
    CREDENTIAL_DELETED,
    CREDENTIAL_REFUSED,
    USER_ERASED,
    erased,
    lift,
    suspend,
)
from mesh.errors import FailedPrecondition

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def sub(state: str, paid_until: datetime | None = None, reason: str = "") -> SubscriptionRecord:
    return SubscriptionRecord(
        subscription_id="sub_1",
        user_id="usr_1",
        bot_id="bot_1",
        credential_id="cred_1",
        market="BTC-USDT",
        allocation=Decimal("100"),
        risk_overrides={},
        state=state,
        paid_until=paid_until,
        create_time=NOW - DAY,
        update_time=NOW - DAY,
        state_reason=reason,
    )


@pytest.mark.parametrize("state", [ACTIVE, EXPIRED, PAUSED])
@pytest.mark.parametrize("reason", [CREDENTIAL_DELETED, CREDENTIAL_REFUSED])
def test_every_live_state_is_suspended_with_the_reason_and_remembers_where_it_was(
    state: str, reason: str
) -> None:
    out = suspend(sub(state, NOW + DAY), reason, "", NOW)
    assert out is not None
    assert (out.sub.state, out.sub.state_reason, out.suspended_from) == (SUSPENDED, reason, state)
    assert out.sub.update_time == NOW


def test_an_active_subscription_whose_time_ran_out_is_remembered_as_expired() -> None:
    out = suspend(sub(ACTIVE, NOW - DAY), CREDENTIAL_DELETED, "", NOW)
    assert out is not None and out.suspended_from == EXPIRED


def test_canceled_is_never_suspended() -> None:
    assert suspend(sub(CANCELED, reason="CANCELED_BY_USER"), CREDENTIAL_DELETED, "", NOW) is None


def test_deletion_outranks_refusal_and_repeats_change_nothing() -> None:
    refused = sub(SUSPENDED, reason=CREDENTIAL_REFUSED)
    deleted = suspend(refused, CREDENTIAL_DELETED, PAUSED, NOW)
    assert deleted is not None
    assert (deleted.sub.state_reason, deleted.suspended_from) == (CREDENTIAL_DELETED, PAUSED)
    assert suspend(deleted.sub, CREDENTIAL_REFUSED, PAUSED, NOW) is None
    assert suspend(refused, CREDENTIAL_REFUSED, PAUSED, NOW) is None


@pytest.mark.parametrize(
    ("suspended_from", "paid_until", "back_to"),
    [
        (ACTIVE, NOW + DAY, ACTIVE),
        (ACTIVE, None, ACTIVE),  # ACTIVE with no end date stays so
        (ACTIVE, NOW - DAY, EXPIRED),  # its paid time ran out while suspended
        (EXPIRED, None, EXPIRED),  # never paid: a lift never makes trading free
        (EXPIRED, NOW + DAY, ACTIVE),  # paid while suspended
        (PAUSED, NOW + DAY, PAUSED),  # the principal's pause stands
    ],
)
def test_an_accepted_verify_lifts_a_refusal_back_to_where_it_was(
    suspended_from: str, paid_until: datetime | None, back_to: str
) -> None:
    lifted = lift(sub(SUSPENDED, paid_until, CREDENTIAL_REFUSED), suspended_from, NOW)
    assert lifted is not None and (lifted.state, lifted.state_reason) == (back_to, "")


def test_a_deleted_credential_never_lifts() -> None:
    assert lift(sub(SUSPENDED, NOW + DAY, CREDENTIAL_DELETED), ACTIVE, NOW) is None
    assert lift(sub(ACTIVE, NOW + DAY), ACTIVE, NOW) is None


def test_erasure_cancels_anything_live_with_its_reason() -> None:
    out = erased(sub(SUSPENDED, reason=CREDENTIAL_DELETED), NOW)
    assert out is not None and (out.state, out.state_reason) == (CANCELED, USER_ERASED)
    assert erased(sub(CANCELED, reason="CANCELED_BY_USER"), NOW) is None


def test_a_suspended_subscription_can_be_canceled_and_paid_but_not_paused_or_resumed() -> None:
    suspended = sub(SUSPENDED, NOW + DAY, CREDENTIAL_DELETED)
    for rule in (model.paused, model.resumed):
        with pytest.raises(FailedPrecondition) as refused:
            rule(suspended, NOW)
        assert refused.value.reason == "SUBSCRIPTION_SUSPENDED"
    canceled = model.canceled(suspended, NOW)
    assert (canceled.state, canceled.state_reason) == (CANCELED, model.CANCELED_BY_USER)
    assert model.canceled(canceled, NOW) is canceled  # a retry changes nothing
    paid = model.credited(suspended, NOW, 30)
    assert paid.state == SUSPENDED and paid.paid_until == NOW + DAY + 30 * DAY
