"""Subscription use cases: rent a bot through one of its listings, read and page rentals,
pause, resume, cancel, and credit ICP payments.

A subscription keeps the listing's price and period as agreed when it was made; a payment is
credited only if its ledger is accepted and it covers that price for the days it buys
(pricing.py), and a ledger block credits one payment, once, across all subscriptions.
A refused payment raises before anything is written.

Every use case starts from the acting principal's user (`Users.acting_user`) and every
query filters by that user, so another principal's subscription is NOT_FOUND exactly like
one that does not exist. The stores announce each change on the change stream from inside
its transaction (events.py), so no use case publishes anything itself.
Cancelling also cancels the subscription's open orders on the exchange (winddown.py), on
every call: a retry after an UNAVAILABLE wind-down finishes it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence, Set
from dataclasses import dataclass, replace

from credential_svc.catalog.service import Catalog
from credential_svc.identity.service import Users
from credential_svc.subscriptions import model
from credential_svc.subscriptions.model import (
    EXPIRED,
    PaymentRecord,
    RiskValues,
    SubscriptionRecord,
)
from credential_svc.subscriptions.pricing import check_covers_price, check_ledger
from credential_svc.subscriptions.store import BlockTaken, Change, SubscriptionStore
from credential_svc.subscriptions.terms import check_terms
from credential_svc.vault.service import Vault
from credential_svc.vault.store import ACTIVE as CREDENTIAL_ACTIVE
from mesh.audit import Event
from mesh.db import utcnow
from mesh.errors import FailedPrecondition, NotFound
from mesh.ids import new_id
from mesh.pagination import decode_token, next_page_token, page_size


@dataclass(frozen=True)
class PaymentReport:
    """A ledger transfer the marketplace saw, as it reports it."""

    ledger: str
    block_index: int
    amount_e8s: int
    period_days: int


def _missing(subscription_id: str) -> NotFound:
    return NotFound(
        f"subscription {subscription_id} does not exist", reason="SUBSCRIPTION_NOT_FOUND"
    )


class Subscriptions:
    def __init__(
        self,
        store: SubscriptionStore,
        users: Users,
        vault: Vault,
        catalog: Catalog,
        accepted_ledgers: Set[str],
        wind_down: Callable[[Sequence[str]], Awaitable[None]] | None = None,
    ) -> None:
        self._wind_down = wind_down
        self._store = store
        self._users = users
        self._vault = vault
        self._catalog = catalog
        self._ledgers = frozenset(accepted_ledgers)

    async def create(
        self,
        principal: str,
        *,
        bot_id: str,
        listing_id: str,
        credential_id: str,
        market: str,
        allocation: str,
        risk_overrides: RiskValues,
    ) -> SubscriptionRecord:
        user = await self._users.acting_user(principal)
        bot = await self._catalog.get_bot(bot_id)
        listing = await self._catalog.get_listing(bot_id, listing_id)
        credential = await self._vault.get(user, credential_id)
        if credential.state != CREDENTIAL_ACTIVE:
            raise FailedPrecondition(
                f"credential {credential_id} is {credential.state.lower()}; "
                "verify it (VerifyExchangeCredential) and use one that was accepted",
                reason="CREDENTIAL_NOT_ACTIVE",
                metadata={"credential_state": credential.state},
            )
        amount, overrides = check_terms(bot, market, allocation, risk_overrides)
        now = utcnow()
        sub = SubscriptionRecord(
            subscription_id=new_id("sub"),
            user_id=user.user_id,
            bot_id=bot.bot_id,
            credential_id=credential_id,
            market=market,
            allocation=amount,
            risk_overrides=overrides,
            state=EXPIRED,  # unpaid: see model's docstring
            paid_until=None,
            create_time=now,
            update_time=now,
            listing_id=listing.listing_id,
            price_e8s=listing.price_e8s,
            period_days=listing.period_days,
        )
        event = Event(
            "subscription.create",
            sub.subscription_id,
            {"bot_id": bot_id, "listing_id": listing_id, "price_e8s": listing.price_e8s},
        )
        await self._store.insert(sub, event)
        return sub

    async def get(self, principal: str, subscription_id: str) -> SubscriptionRecord:
        sub = await self._store.get_for_principal(principal, subscription_id)
        if sub is None:
            await self._users.acting_user(principal)  # USER_NOT_FOUND first, as elsewhere
            raise _missing(subscription_id)
        return sub.as_of(utcnow())

    async def list(
        self, principal: str, requested_size: int, token: str
    ) -> tuple[list[SubscriptionRecord], str]:
        user = await self._users.acting_user(principal)
        size = page_size(requested_size)
        rows = await self._store.page(user.user_id, limit=size + 1, after=decode_token(token))
        now = utcnow()
        return [r.as_of(now) for r in rows[:size]], next_page_token(
            rows, size, lambda r: (r.create_time, r.subscription_id)
        )

    async def pause(self, principal: str, subscription_id: str) -> SubscriptionRecord:
        return await self._transition(principal, subscription_id, model.paused, "pause", "paused")

    async def resume(self, principal: str, subscription_id: str) -> SubscriptionRecord:
        return await self._transition(
            principal, subscription_id, model.resumed, "resume", "resumed"
        )

    async def cancel(self, principal: str, subscription_id: str) -> SubscriptionRecord:
        canceled = await self._transition(
            principal, subscription_id, model.canceled, "cancel", "canceled"
        )
        if self._wind_down is not None:
            await self._wind_down([canceled.subscription_id])
        return canceled

    async def record_payment(
        self, principal: str, subscription_id: str, report: PaymentReport
    ) -> tuple[PaymentRecord, SubscriptionRecord]:
        """Credits a ledger block once: the same block reported again as the same payment
        (by a retry, another replica, or a second marketplace call) returns the payment first
        recorded; reported as anything else it is PAYMENT_BLOCK_USED. The price is checked
        under the subscription's row lock, so a refusal rolls back with nothing written."""
        user = await self._users.acting_user(principal)
        check_ledger(report.ledger, self._ledgers)
        now = utcnow()
        payment = PaymentRecord(
            payment_id=new_id("pay"),
            subscription_id=subscription_id,
            ledger=report.ledger,
            block_index=report.block_index,
            amount_e8s=report.amount_e8s,
            period_days=report.period_days,
            paid_until=now,  # replaced by the store with what the payment buys
            create_time=now,
        )

        def decide(sub: SubscriptionRecord) -> SubscriptionRecord:
            after = model.credited(sub, now, report.period_days)  # CANCELED refuses first
            check_covers_price(sub, report.amount_e8s, report.period_days)
            return replace(after, update_time=now)

        def replay(existing: PaymentRecord, sub: SubscriptionRecord) -> None:
            _check_replay(existing, subscription_id, report)

        try:
            outcome = await self._store.credit(user.user_id, payment, decide, replay)
        except BlockTaken:
            existing = await self._store.find_payment(report.ledger, report.block_index)
            assert existing is not None
            _check_replay(existing, subscription_id, report)
            return existing, await self.get(principal, subscription_id)
        if outcome is None:
            raise _missing(subscription_id)
        recorded, change = outcome
        return recorded, change.after.as_of(utcnow())

    async def _transition(
        self,
        principal: str,
        subscription_id: str,
        rule: model.Rule,
        verb: str,
        change_name: str,
    ) -> SubscriptionRecord:
        """Applies `rule` under the row lock; audits as subscription.<verb> and announces
        `change_name`, both only when something changed."""
        user = await self._users.acting_user(principal)
        now = utcnow()

        def decide(sub: SubscriptionRecord) -> SubscriptionRecord:
            after = rule(sub, now)
            return replace(after, update_time=now) if model.changed(sub, after) else sub

        change: Change | None = await self._store.transition(
            user.user_id, subscription_id, decide, f"subscription.{verb}", change_name
        )
        if change is None:
            raise _missing(subscription_id)
        return change.after.as_of(now)


def _check_replay(existing: PaymentRecord, subscription_id: str, report: PaymentReport) -> None:
    """The same block may be reported again only as the same payment."""
    same = (
        existing.subscription_id == subscription_id
        and existing.amount_e8s == report.amount_e8s
        and existing.period_days == report.period_days
    )
    if not same:
        raise FailedPrecondition(
            f"ledger block {report.block_index} was already credited to a different payment",
            reason="PAYMENT_BLOCK_USED",
            metadata={"ledger": report.ledger, "block_index": str(report.block_index)},
        )
