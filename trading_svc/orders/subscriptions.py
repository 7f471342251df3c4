"""Subscriptions as trading_svc sees them: the credential service's answer, asked for every time.

The one source is the credential service's internal GetTradingSubscription, called with the internal
service identity. It carries the subscription, its credential's state and the credential service's
verdict (may it trade now, and the state to show), so the entitlement rule stays with its
owner. Every order asks first and nothing is cached on that path, so a suspended or
canceled subscription, or a credential no longer ACTIVE, refuses orders from the commit on,
in every process, whether or not the change stream has been read yet.

A user-scoped read names the acting principal: another principal's subscription is
NOT_FOUND, exactly like one that does not exist (the credential service answers both alike). A
caller with no principal (an admin key) finds nothing. Callers' reads go through a gatherer
(mesh/gather.py): alone and at once when few are in flight, together in one
BatchGetOwnedSubscriptions when many arrive at once (a storm of dashboards reconnecting), each
answered by a read that started after it was asked. Background work (reconciliation,
winding down) asks without a principal. The credential service unreachable is UNAVAILABLE
(SUBSCRIPTIONS_UNAVAILABLE), never a 500 and never a guess.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import grpc
from botmesh.credential.v1 import internal_service_pb2 as internal
from botmesh.credential.v1 import internal_service_pb2_grpc as internal_rpc
from botmesh.credential.v1 import resources_pb2 as pb

from mesh.auth import INTERNAL_HEADER
from mesh.decimals import dec
from mesh.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from mesh.gather import Gatherer
from mesh.principal import parse_principal
from mesh.timestamps import from_ts
from mesh.tls import InternalTls, aio_channel
from mesh.validation import validate
from quant.sizing import Stake
from trading_svc.orders.projection import Projected
from trading_svc.runtime.terms import BotTerms, Limits

ACTIVE = "ACTIVE"
ASK_TIMEOUT_S = 5.0
BATCH_MAX = 500  # BatchGetTradingSubscriptions' and BatchGetOwnedSubscriptions' bound
# Callers' reads in flight at once before more wait to go together (mesh/gather.py).
OWNED_IN_FLIGHT = 4


@dataclass(frozen=True)
class Subscription:
    subscription_id: str
    user_id: str
    credential_id: str
    exchange: str
    market: str
    allocation: Decimal
    state: str
    paid_until: datetime | None
    credential_state: str
    state_reason: str
    update_time: datetime
    # the credential service's verdict and the state it shows, as of the answer.
    may_trade: bool
    shown_state: str
    # The bot as the runtime runs it; None in answers from before bots were sent along.
    terms: BotTerms | None = None

    def trading(self) -> bool:
        return self.may_trade

    @property
    def effective_state(self) -> str:
        """ACTIVE with its paid time run out reads as EXPIRED, before the sweeper marks it."""
        return self.shown_state

    def require_active(self) -> None:
        if not self.trading():
            raise FailedPrecondition(
                f"subscription {self.subscription_id} is {self.effective_state.lower()}, not active",
                reason="SUBSCRIPTION_NOT_ACTIVE",
                metadata={"state": self.effective_state},
            )
        if self.credential_state != ACTIVE:
            raise FailedPrecondition(
                f"the subscription's credential is {self.credential_state.lower()}, not active",
                reason="CREDENTIAL_NOT_ACTIVE",
                metadata={"credential_state": self.credential_state},
            )

    def projected(self) -> Projected:
        return Projected(
            subscription_id=self.subscription_id,
            user_id=self.user_id,
            credential_id=self.credential_id,
            market=self.market,
            state=self.state,
            paid_until=self.paid_until,
            version=self.update_time,
        )


def _name(enum: object, value: int, prefix: str) -> str:
    return str(enum.Name(value)).removeprefix(prefix)  # type: ignore[attr-defined]


def _subscription(m: internal.TradingSubscription) -> Subscription:
    state = "SUBSCRIPTION_STATE_"
    reason = _name(pb.SubscriptionStateReason, m.state_reason, "SUBSCRIPTION_STATE_REASON_")
    return Subscription(
        subscription_id=m.subscription_id,
        user_id=m.user_id,
        credential_id=m.credential_id,
        exchange=m.exchange,
        market=m.market,
        allocation=Decimal(m.allocation),
        state=_name(pb.SubscriptionState, m.state, state),
        paid_until=from_ts(m.paid_until) if m.HasField("paid_until") else None,
        credential_state=_name(pb.CredentialState, m.credential_state, "CREDENTIAL_STATE_"),
        state_reason="" if reason == "UNSPECIFIED" else reason,
        update_time=from_ts(m.update_time),
        may_trade=m.may_trade,
        shown_state=_name(pb.SubscriptionState, m.effective_state, state),
        terms=_terms(m) if m.HasField("bot") else None,
    )


def _stake(m: Any) -> Stake:
    mode = m.WhichOneof("mode")
    if mode == "fixed_quote":
        return Stake(fixed_quote=Decimal(m.fixed_quote))
    if mode == "allocation_fraction":
        return Stake(fraction=Decimal(m.allocation_fraction))
    return Stake()


def _terms(m: internal.TradingSubscription) -> BotTerms:
    bot, risk = m.bot, m.risk
    return BotTerms(
        bot_id=bot.bot_id,
        strategy=bot.strategy,
        params=dict(bot.strategy_params),
        timeframe=bot.timeframe,
        advisor=bot.advisor_enabled,
        stake=_stake(bot.stake),
        limits=Limits(
            stop_loss=dec(risk.stop_loss_pct or None) or None,
            take_profit=dec(risk.take_profit_pct or None) or None,
            max_drawdown=dec(risk.max_drawdown_pct or None) or None,
            daily_loss=dec(risk.daily_loss_limit or None) or None,
            cooldown_s=risk.cooldown_seconds,
            max_allocation=dec(risk.max_allocation or None) or None,
        ),
        update_time=from_ts(bot.update_time) if bot.HasField("update_time") else None,
    )


def _askable(subscription_id: str, principal: str | None) -> bool:
    """Whether the ask passes the rules the credential service checks (the proto's, and a
    principal's checksum)."""
    if not principal:
        return False
    try:
        validate(
            internal.OwnedSubscriptionAsk(subscription_id=subscription_id, principal=principal)
        )
        parse_principal(principal, field="principal")
    except InvalidArgument:
        return False
    return True


def _unavailable() -> Unavailable:
    return Unavailable(
        "the credential service could not be reached",
        reason="SUBSCRIPTIONS_UNAVAILABLE",
        retry_after_s=1.0,
    )


def _not_found(subscription_id: str) -> NotFound:
    return NotFound(
        f"subscription {subscription_id} does not exist", reason="SUBSCRIPTION_NOT_FOUND"
    )


class SubscriptionReader:
    """credential_svc's internal subscription RPCs over one long-lived gRPC channel: a
    failure is UNAVAILABLE (SUBSCRIPTIONS_UNAVAILABLE), never a guess."""

    def __init__(
        self,
        target: str,
        internal_token: str,
        options: Sequence[tuple[str, str | int]] = (),
        tls: InternalTls | None = None,
    ) -> None:
        # `options`: round_robin when `target` lists several replicas (ServiceAddress).
        self._channel = aio_channel(target, options, tls)
        self._stub = internal_rpc.InternalCredentialServiceStub(self._channel)
        self._metadata = ((INTERNAL_HEADER, internal_token),)
        # Callers' reads that arrive together (a storm of streams opening) go as one call.
        self._owned: Gatherer[tuple[str, str], Subscription] = Gatherer(
            self._ask_owned, max_batch=BATCH_MAX, max_in_flight=OWNED_IN_FLIGHT
        )

    async def for_principal(self, principal: str | None, subscription_id: str) -> Subscription:
        # An id or principal the credential service could not match is no one's: it is not
        # sent, so it cannot fail a batch it would share with other callers' asks.
        if not _askable(subscription_id, principal):
            raise _not_found(subscription_id)
        found = await self._owned.get((subscription_id, principal or ""))
        if found is None:
            raise _not_found(subscription_id)
        return found

    async def by_id(self, subscription_id: str) -> Subscription | None:
        """For background work that acts for no caller (reconciliation, winding down)."""
        return await self._ask(subscription_id, "")

    async def batch(self, subscription_ids: list[str]) -> dict[str, Subscription]:
        """Many subscriptions in one read, for background work (the bot runtime's ticks);
        ids the credential service does not know are absent from the answer."""
        found: dict[str, Subscription] = {}
        for start in range(0, len(subscription_ids), BATCH_MAX):
            request = internal.BatchGetTradingSubscriptionsRequest(
                subscription_ids=subscription_ids[start : start + BATCH_MAX]
            )
            reply = await self._call(self._stub.BatchGetTradingSubscriptions, request)
            for m in reply.subscriptions:
                found[m.subscription_id] = _subscription(m)
        return found

    async def pause_for_risk(self, subscription_id: str, rule: str, message: str) -> None:
        """Asks credential_svc to pause the subscription for a risk rule (MAX_DRAWDOWN,
        ORDER_FAILURES): the reason stays on the subscription, which its principal sees,
        until the principal resumes it."""
        request = internal.PauseForRiskRequest(
            subscription_id=subscription_id,
            reason=pb.SubscriptionStateReason.Value(f"SUBSCRIPTION_STATE_REASON_RISK_{rule}"),
            message=message[:255],
        )
        # FAILED_PRECONDITION: no longer ACTIVE, stopped already; nothing to pause.
        await self._call(
            self._stub.PauseForRisk, request, absent=(grpc.StatusCode.FAILED_PRECONDITION,)
        )

    async def all_live(self) -> AsyncIterator[Subscription]:
        """Every subscription that is not CANCELED, page by page (a projection rebuild)."""
        token = ""
        while True:
            request = internal.ListTradingSubscriptionsRequest(page_size=500, page_token=token)
            reply = await self._call(self._stub.ListTradingSubscriptions, request)
            for m in reply.subscriptions:
                yield _subscription(m)
            token = reply.next_page_token
            if not token:
                return

    async def _ask(self, subscription_id: str, principal: str) -> Subscription | None:
        request = internal.GetTradingSubscriptionRequest(
            subscription_id=subscription_id, principal=principal
        )
        # An id or principal the credential service cannot match is no one's.
        unmatched = (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)
        reply = await self._call(self._stub.GetTradingSubscription, request, absent=unmatched)
        return None if reply is None else _subscription(reply.subscription)

    async def _ask_owned(self, asks: list[tuple[str, str]]) -> dict[tuple[str, str], Subscription]:
        request = internal.BatchGetOwnedSubscriptionsRequest(
            asks=[internal.OwnedSubscriptionAsk(subscription_id=s, principal=p) for s, p in asks]
        )
        reply = await self._call(self._stub.BatchGetOwnedSubscriptions, request)
        return {
            (a.subscription.subscription_id, a.principal): _subscription(a.subscription)
            for a in reply.answers
        }

    async def _call(
        self, method: Any, request: Any, *, absent: tuple[grpc.StatusCode, ...] = ()
    ) -> Any:
        """One call with the internal identity: None when it answers one of `absent`,
        UNAVAILABLE for any other failure."""
        try:
            return await method(request, metadata=self._metadata, timeout=ASK_TIMEOUT_S)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in absent:
                return None
            raise _unavailable() from None

    async def close(self) -> None:
        await self._channel.close()
