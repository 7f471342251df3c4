"""The subscription state machine and the terms rules, as plain Python."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from credential_svc.catalog.bots import BotRecord
from credential_svc.subscriptions import model
from credential_svc.subscriptions.model import (
    ACTIVE,
    CANCELED,
    EXPIRED,
    PAUSED,
    SubscriptionRecord,
)
from credential_svc.subscriptions.terms import check_terms
from mesh.errors import FailedPrecondition, InvalidArgument

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def sub(state: str, paid_until: datetime | None = None) -> SubscriptionRecord:
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
    )


def test_an_active_subscription_past_its_paid_time_reads_as_expired() -> None:
    assert sub(ACTIVE, NOW).as_of(NOW).state == EXPIRED
    assert sub(ACTIVE, NOW + DAY).as_of(NOW).state == ACTIVE
    assert sub(ACTIVE, None).as_of(NOW).state == ACTIVE  # no end: operator-made rows
    assert sub(PAUSED, NOW - DAY).as_of(NOW).state == PAUSED


@pytest.mark.parametrize(
    ("start", "paid_until", "rule", "end"),
    [
        (ACTIVE, NOW + DAY, model.paused, PAUSED),
        (EXPIRED, None, model.paused, PAUSED),
        (PAUSED, NOW + DAY, model.resumed, ACTIVE),
        (PAUSED, NOW - DAY, model.resumed, EXPIRED),
        (PAUSED, None, model.resumed, EXPIRED),
        (ACTIVE, NOW + DAY, model.resumed, ACTIVE),
        (EXPIRED, None, model.resumed, EXPIRED),
        (ACTIVE, NOW + DAY, model.canceled, CANCELED),
        (PAUSED, None, model.canceled, CANCELED),
        (CANCELED, None, model.canceled, CANCELED),
    ],
)
def test_transitions(start: str, paid_until: datetime | None, rule: model.Rule, end: str) -> None:
    assert rule(sub(start, paid_until), NOW).state == end


@pytest.mark.parametrize("rule", [model.paused, model.resumed])
def test_nothing_leaves_canceled(rule: model.Rule) -> None:
    with pytest.raises(FailedPrecondition) as refused:
        rule(sub(CANCELED), NOW)
    assert refused.value.reason == "SUBSCRIPTION_CANCELED"
    with pytest.raises(FailedPrecondition):
        model.credited(sub(CANCELED), NOW, 30)


def test_a_payment_extends_from_the_later_of_now_and_paid_until() -> None:
    assert model.credited(sub(EXPIRED), NOW, 30).paid_until == NOW + 30 * DAY
    assert model.credited(sub(EXPIRED), NOW, 30).state == ACTIVE
    early = model.credited(sub(ACTIVE, NOW + 5 * DAY), NOW, 30)
    assert (early.state, early.paid_until) == (ACTIVE, NOW + 35 * DAY)
    late = model.credited(sub(ACTIVE, NOW - 5 * DAY), NOW, 30)
    assert (late.state, late.paid_until) == (ACTIVE, NOW + 30 * DAY)
    held = model.credited(sub(PAUSED, NOW + DAY), NOW, 30)
    assert (held.state, held.paid_until) == (PAUSED, NOW + 31 * DAY)


BOT = BotRecord(
    bot_id="bot_1",
    name="b",
    description="",
    strategy="ma_crossover",
    strategy_params={},
    markets=("BTC-USDT",),
    timeframe="1h",
    risk_limits={"stop_loss_pct": "0.05", "cooldown_seconds": 60, "max_allocation": "500"},
    advisor_enabled=False,
    author_key_id="k",
    create_time=NOW,
    update_time=NOW,
)


def test_terms_within_the_bots_limits() -> None:
    amount, overrides = check_terms(
        BOT, "BTC-USDT", "500", {"stop_loss_pct": "0.05", "max_drawdown_pct": "0.3"}
    )
    assert amount == Decimal("500")
    assert overrides == {"stop_loss_pct": "0.05", "max_drawdown_pct": "0.3"}


@pytest.mark.parametrize(
    ("market", "allocation", "overrides", "field"),
    [
        ("ETH-USDT", "1", {}, "market"),
        ("BTC-USDT", "500.000000000000000001", {}, "allocation"),
        ("BTC-USDT", "0.0000000000000000001", {}, "allocation"),
        ("BTC-USDT", "1000000000000000000", {}, "allocation"),
        ("BTC-USDT", "1", {"stop_loss_pct": "0.051"}, "risk_overrides.stop_loss_pct"),
        ("BTC-USDT", "1", {"cooldown_seconds": 59}, "risk_overrides.cooldown_seconds"),
        ("BTC-USDT", "1", {"max_drawdown_pct": "1.01"}, "risk_overrides.max_drawdown_pct"),
        ("BTC-USDT", "1", {"max_allocation": "501"}, "risk_overrides.max_allocation"),
        ("BTC-USDT", "50", {"max_allocation": "40"}, "allocation"),
    ],
)
def test_terms_that_loosen_or_overflow_name_the_field(
    market: str, allocation: str, overrides: dict[str, str | int], field: str
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        check_terms(BOT, market, allocation, overrides)
    assert refused.value.metadata["field"] == field


def test_a_bot_without_a_limit_accepts_any_positive_override() -> None:
    free = replace(BOT, risk_limits={})
    assert check_terms(free, "BTC-USDT", "1000000", {"stop_loss_pct": "0.9"})[1] == {
        "stop_loss_pct": "0.9"
    }


def test_a_change_version_is_strictly_after_the_previous_one() -> None:
    before = sub(ACTIVE, NOW + DAY)
    tick = timedelta(microseconds=1)
    later = replace(before, state=PAUSED, update_time=NOW)
    assert model.versioned(later, before.update_time) == later  # the clock moved on
    same = replace(before, state=PAUSED)  # the same microsecond
    assert model.versioned(same, before.update_time).update_time == before.update_time + tick
    behind = replace(before, state=PAUSED, update_time=before.update_time - DAY)  # skew
    assert model.versioned(behind, before.update_time).update_time == before.update_time + tick


# The bot runtime's risk pause.


@pytest.mark.parametrize("reason", sorted(model.RISK_REASONS))
@pytest.mark.parametrize("paid_until", [NOW + DAY, NOW - DAY, None])
def test_a_risk_pause_pauses_the_stored_active_state_with_its_reason(
    reason: str, paid_until: datetime | None
) -> None:
    paused = model.paused_for_risk(sub(ACTIVE, paid_until), reason)
    assert (paused.state, paused.state_reason, paused.paid_until) == (PAUSED, reason, paid_until)


def test_a_risk_pause_of_a_paused_one_changes_nothing_and_keeps_its_reason() -> None:
    by_risk = model.paused_for_risk(sub(ACTIVE, NOW + DAY), model.RISK_MAX_DRAWDOWN)
    assert model.paused_for_risk(by_risk, model.RISK_ORDER_FAILURES) is by_risk
    by_principal = sub(PAUSED, NOW + DAY)
    assert model.paused_for_risk(by_principal, model.RISK_MAX_DRAWDOWN) is by_principal
    assert model.paused(by_risk, NOW).state_reason == model.RISK_MAX_DRAWDOWN


@pytest.mark.parametrize("state", [EXPIRED, CANCELED, "SUSPENDED"])
def test_only_an_active_subscription_is_paused_for_risk(state: str) -> None:
    with pytest.raises(FailedPrecondition) as refused:
        model.paused_for_risk(sub(state, NOW + DAY), model.RISK_MAX_DRAWDOWN)
    assert refused.value.reason == "SUBSCRIPTION_NOT_ACTIVE"
    assert refused.value.metadata == {"state": state}


@pytest.mark.parametrize("reason", ["", "CREDENTIAL_DELETED", "CANCELED_BY_USER", "risk"])
def test_a_risk_pause_takes_only_a_risk_reason(reason: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        model.paused_for_risk(sub(ACTIVE, NOW + DAY), reason)
    assert refused.value.metadata == {"field": "reason"}


@pytest.mark.parametrize(("paid_until", "back_to"), [(NOW + DAY, ACTIVE), (NOW - DAY, EXPIRED)])
def test_resuming_clears_the_risk_reason_with_the_pause(paid_until: datetime, back_to: str) -> None:
    paused = model.paused_for_risk(sub(ACTIVE, paid_until), model.RISK_ORDER_FAILURES)
    resumed = model.resumed(paused, NOW)
    assert (resumed.state, resumed.state_reason) == (back_to, "")


def test_a_principals_own_pause_sets_no_reason() -> None:
    assert model.paused(sub(ACTIVE, NOW + DAY), NOW).state_reason == ""
