"""The price rule as plain Python: a payment covers the agreed price for the days it buys,
rounded up to the next e8, in integers; and the ledger must be an accepted one."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from fractions import Fraction

import pytest

from credential_svc.subscriptions.model import EXPIRED
from credential_svc.subscriptions.pricing import check_covers_price, check_ledger, minimum_e8s
from mesh.errors import FailedPrecondition, InvalidArgument
from mesh.settings import ICP_LEDGER
from tests.credential_svc.subscriptions.test_model import sub

# The proto bounds: price_e8s 0..10^14, periods 1..366 days.
MAX_PRICE = 100_000_000_000_000


def cases(n: int) -> list[tuple[int, int, int]]:
    rng = random.Random(8)
    edges = [(0, 1, 1), (1, 366, 1), (MAX_PRICE, 1, 366), (MAX_PRICE, 366, 1), (7, 3, 2)]
    drawn = [
        (rng.choice([rng.randrange(MAX_PRICE + 1), rng.randrange(10**6)]), rng.randint(1, 366), d)
        for d in (rng.randint(1, 366) for _ in range(n))
    ]
    return edges + drawn


@pytest.mark.parametrize(("price", "period", "days"), cases(500))
def test_the_minimum_is_the_exact_ceiling_of_the_pro_rata_price(
    price: int, period: int, days: int
) -> None:
    exact = Fraction(price * days, period)
    least = minimum_e8s(price, period, days)
    assert least == math.ceil(exact)
    priced = replace(sub(EXPIRED), price_e8s=price, period_days=period)
    check_covers_price(priced, least, days)  # the minimum buys the days
    if least > 0:
        with pytest.raises(FailedPrecondition) as short:
            check_covers_price(priced, least - 1, days)
        assert short.value.reason == "PAYMENT_TOO_SMALL"
        assert short.value.metadata["min_amount_e8s"] == str(least)


def test_floats_would_get_large_prices_wrong() -> None:
    """Why integers: within the proto's price range a float ceiling can sell an e8 short."""
    price, period, days = 73_480_812_843_156, 67, 221
    assert math.ceil(price * days / period) == minimum_e8s(price, period, days) - 1


def test_an_unpriced_subscription_takes_no_payment() -> None:
    with pytest.raises(FailedPrecondition) as refused:
        check_covers_price(sub(EXPIRED), 10**12, 30)
    assert refused.value.reason == "SUBSCRIPTION_UNPRICED"


def test_only_accepted_ledgers_pay() -> None:
    check_ledger(ICP_LEDGER, {ICP_LEDGER})
    with pytest.raises(InvalidArgument) as refused:
        check_ledger("mxzaz-hqaaa-aaaar-qaada-cai", {ICP_LEDGER})
    assert refused.value.reason == "LEDGER_NOT_ACCEPTED"
    assert refused.value.metadata == {"field": "ledger"}
