"""A bot's stake rules, as plain Python: one mode with a value, a fraction at most 1, and a
fixed stake no larger than the bot's own max_allocation, kept on every change of either."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from credential_svc.catalog.bots import BotChanges, BotRecord, apply_changes, check_mask
from credential_svc.catalog.stakes import check_stake, stake_of
from mesh.errors import InvalidArgument

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def bot(stake: dict[str, str] | None = None, cap: str = "500") -> BotRecord:
    return BotRecord(
        bot_id="bot_1",
        name="b",
        description="",
        strategy="ma_crossover",
        strategy_params={},
        markets=("BTC-USDT",),
        timeframe="1h",
        risk_limits={"max_allocation": cap} if cap else {},
        advisor_enabled=False,
        author_key_id="key_1",
        create_time=NOW,
        update_time=NOW,
        stake=stake,
    )


def violation(call) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidArgument) as caught:
        call()
    return caught.value.reason, caught.value.violations[0].field


@pytest.mark.parametrize(
    "stake",
    [None, {"fixed_quote": "100"}, {"fixed_quote": "500"}, {"allocation_fraction": "1"}],
)
def test_these_stakes_are_kept(stake: dict[str, str] | None) -> None:
    check_stake(stake, {"max_allocation": "500"})


def test_no_mode_chosen_is_no_stake() -> None:
    assert stake_of(None, "") is None
    assert stake_of("fixed_quote", "100") == {"fixed_quote": "100"}


@pytest.mark.parametrize(
    ("stake", "reason", "field"),
    [
        ({"fixed_quote": ""}, "INVALID_FIELD", "stake.fixed_quote"),
        ({"fixed_quote": "0"}, "INVALID_FIELD", "stake.fixed_quote"),
        ({"allocation_fraction": "1.01"}, "INVALID_FIELD", "stake.allocation_fraction"),
        ({"fixed_quote": "500.01"}, "STAKE_ABOVE_MAX_ALLOCATION", "stake.fixed_quote"),
        ({"fixed_quote": "1", "allocation_fraction": "1"}, "INVALID_FIELD", "stake"),
        ({"percent": "1"}, "INVALID_FIELD", "stake"),
    ],
)
def test_these_stakes_are_refused_naming_the_field(
    stake: dict[str, str], reason: str, field: str
) -> None:
    assert violation(lambda: check_stake(stake, {"max_allocation": "500"})) == (reason, field)


def test_a_bot_without_a_cap_takes_any_fixed_stake() -> None:
    check_stake({"fixed_quote": "999999999999999"}, {})


def test_stake_is_an_updatable_path_and_an_unset_stake_clears_it() -> None:
    assert check_mask(["stake"]) == {"stake"}
    cleared = apply_changes(
        bot({"fixed_quote": "100"}), BotChanges(frozenset({"stake"}), {"stake": None}), NOW
    )
    assert cleared.stake is None


def test_an_update_may_not_raise_the_stake_past_the_cap_nor_lower_the_cap_below_it() -> None:
    raise_stake = BotChanges(frozenset({"stake"}), {"stake": {"fixed_quote": "600"}})
    assert violation(lambda: apply_changes(bot(), raise_stake, NOW)) == (
        "STAKE_ABOVE_MAX_ALLOCATION",
        "bot.stake.fixed_quote",
    )
    lower_cap = BotChanges(frozenset({"risk_limits"}), {"risk_limits": {"max_allocation": "50"}})
    assert violation(lambda: apply_changes(bot({"fixed_quote": "100"}), lower_cap, NOW))[0] == (
        "STAKE_ABOVE_MAX_ALLOCATION"
    )
    fraction = BotChanges(frozenset({"risk_limits"}), {"risk_limits": {"max_allocation": "50"}})
    assert apply_changes(bot({"allocation_fraction": "0.5"}), fraction, NOW).stake == {
        "allocation_fraction": "0.5"
    }
