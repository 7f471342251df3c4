"""What a payment must be to be credited, beyond its format (checked by the proto rules).

- The ledger is one the operator accepts (BOTMESH_ACCEPTED_LEDGERS): a transfer on any other
  canister proves nothing about ICP received.
- The amount covers the price agreed at subscribe time for the days it buys:
  amount_e8s >= ceil(price_e8s * days / period_days), in integers (no float rounds a price
  down), so buying a part of the period costs its share, rounded up to the next e8.
- A subscription made before subscriptions were priced has no agreed price and takes no
  payment: it fails closed rather than selling time at an unknown price.

(ledger, block_index) is used once across all subscriptions: the payments table's unique
key enforces that, and the use case tells a replay of the same payment from a reuse.
"""

from __future__ import annotations

from collections.abc import Set

from credential_svc.subscriptions.model import SubscriptionRecord
from mesh.errors import FailedPrecondition, InvalidArgument


def minimum_e8s(price_e8s: int, period_days: int, days: int) -> int:
    """The least amount that buys `days` at `price_e8s` per `period_days` (ceiling)."""
    return -(-price_e8s * days // period_days)


def check_ledger(ledger: str, accepted: Set[str]) -> None:
    if ledger not in accepted:
        raise InvalidArgument.for_field(
            "ledger",
            f"{ledger} is not an accepted ledger; accepted: {', '.join(sorted(accepted))}",
            reason="LEDGER_NOT_ACCEPTED",
        )


def check_covers_price(sub: SubscriptionRecord, amount_e8s: int, days: int) -> None:
    if sub.price_e8s is None or not sub.period_days:
        raise FailedPrecondition(
            f"subscription {sub.subscription_id} has no agreed price; subscribe through a listing",
            reason="SUBSCRIPTION_UNPRICED",
        )
    least = minimum_e8s(sub.price_e8s, sub.period_days, days)
    if amount_e8s < least:
        raise FailedPrecondition(
            f"amount_e8s: {amount_e8s} does not cover {days} days at {sub.price_e8s} e8s "
            f"per {sub.period_days} days; at least {least} is due",
            reason="PAYMENT_TOO_SMALL",
            metadata={"field": "amount_e8s", "min_amount_e8s": str(least)},
        )
