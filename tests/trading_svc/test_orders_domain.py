"""The plain rules under orders: an intent's identity, and what fills leave a subscription
holding and having spent."""

from __future__ import annotations

from decimal import Decimal

from trading_svc.orders.allocation import FillSums, held_and_spent
from trading_svc.orders.model import BUY, SELL, intent_key

D = Decimal


def test_an_intent_is_the_same_only_for_the_same_key_principal_idempotency_key_and_subscription() -> (
    None
):
    base = ("key_1", "principal-a", "idem-1", "sub_1")
    same = intent_key(*base)
    assert intent_key(*base) == same and len(same) == 64
    for i in range(4):
        changed = list(base)
        changed[i] += "x"
        assert intent_key(*changed) != same  # type: ignore[arg-type]
    # Parts cannot run into each other: ("ab", "c") is not ("a", "bc").
    assert intent_key("k", "ab", "c", "s") != intent_key("k", "a", "bc", "s")
    assert intent_key(None, "p", "i", "s") != intent_key("p", "", "i", "s")


def test_fees_in_the_base_asset_come_off_the_position_and_others_off_the_quote() -> None:
    position, spent = held_and_spent(
        [
            FillSums(BUY, "BTC-USDT", "BTC", D("0.01"), D("600"), D("0.00001")),
            FillSums(BUY, "BTC-USDT", "USDT", D("0.01"), D("600"), D("0.6")),
            FillSums(SELL, "BTC-USDT", "USDT", D("0.005"), D("310"), D("0.31")),
        ]
    )
    assert position == D("0.01") - D("0.00001") + D("0.01") - D("0.005")
    assert spent == D("600") + D("600") + D("0.6") - D("310") + D("0.31")


def test_no_fills_hold_and_spend_nothing() -> None:
    assert held_and_spent([]) == (D(0), D(0))
