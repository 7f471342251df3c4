"""Subscriptions as trading_svc sees them, with this service's verdict on whether each may
trade now: GetTradingSubscription (one), BatchGetTradingSubscriptions (a batch of ticks'
subscriptions), BatchGetOwnedSubscriptions (many callers' GetTradingSubscription at once)
and ListTradingSubscriptions (every one not CANCELED, oldest first, for rebuilding a
projection). The only answers trading_svc gets about subscriptions.

One function (`_view`) turns a row into an answer for all four, so the verdict is the same
whichever way it is asked:
- `may_trade` is the entitlement rule (entitlement.py), at the moment of asking, and
  `effective_state` follows from it; trading_svc never re-derives either;
- `bot` is the rented bot as the runtime runs it (strategy, params, timeframe, stake);
- `risk` is the limits in force: the subscription's overrides over the bot's own limits,
  field by field, an override left empty keeping the bot's value (`effective_limits`).
Read from the database on every call, never cached: a stop refuses orders from its commit on.

Scoping: with a principal, the subscription must belong to that principal's active user; one
it does not own is NOT_FOUND with the same message and reason as one that does not exist.
Without one (background work: reconciliation, winding down, the runtime), any subscription
is answered, whatever its state, since winding down needs the credential of a stopped one.
A batch leaves unknown ids out rather than failing the whole batch; an owned batch leaves out
each ask its principal could not see, scoped exactly as `get` is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from credential_svc.subscriptions.entitlement import may_trade
from credential_svc.subscriptions.model import ACTIVE, EXPIRED, RiskValues
from credential_svc.subscriptions.trading_view_store import Row, TradingViewStore
from mesh.db import utcnow
from mesh.errors import NotFound
from mesh.pagination import decode_token, next_page_token

LIST_DEFAULT_PAGE = 100
LIST_MAX_PAGE = 500  # the proto's bound too


@dataclass(frozen=True)
class TradingBot:
    bot_id: str
    strategy: str
    strategy_params: Mapping[str, str]
    timeframe: str
    advisor_enabled: bool
    # {"fixed_quote": "100"} or {"allocation_fraction": "0.5"}; None: the whole allocation.
    stake: Mapping[str, str] | None
    update_time: datetime


@dataclass(frozen=True)
class TradingView:
    subscription_id: str
    user_id: str
    credential_id: str
    exchange: str
    market: str
    allocation: Decimal
    state: str
    state_reason: str
    paid_until: datetime | None
    credential_state: str
    create_time: datetime
    update_time: datetime
    may_trade: bool
    bot: TradingBot
    risk: RiskValues

    @property
    def effective_state(self) -> str:
        """ACTIVE with its paid time run out reads as EXPIRED, before the sweeper marks it."""
        return EXPIRED if self.state == ACTIVE and not self.may_trade else self.state


def effective_limits(bot_limits: RiskValues, overrides: RiskValues) -> dict[str, str | int]:
    """The limits in force: each override that is set replaces the bot's value of that
    field; an empty one ("" or 0, as an unset proto field reads) keeps the bot's."""
    merged = {name: value for name, value in bot_limits.items() if value not in ("", 0, None)}
    merged.update({name: value for name, value in overrides.items() if value not in ("", 0, None)})
    return merged


def _view(m: Row, now: datetime) -> TradingView:
    """The one verdict on a row, whichever RPC read it."""
    return TradingView(
        subscription_id=m["subscription_id"],
        user_id=m["user_id"],
        credential_id=m["credential_id"],
        exchange=m["exchange"],
        market=m["market"],
        allocation=Decimal(m["allocation"]),
        state=m["state"],
        state_reason=m["state_reason"],
        paid_until=m["paid_until"],
        credential_state=m["credential_state"],
        create_time=m["create_time"],
        update_time=m["update_time"],
        may_trade=may_trade(m["state"], m["paid_until"], now),
        bot=TradingBot(
            bot_id=m["bot_id"],
            strategy=m["strategy"],
            strategy_params=dict(m["strategy_params"]),
            timeframe=m["timeframe"],
            advisor_enabled=bool(m["advisor_enabled"]),
            stake=None if m["stake"] is None else dict(m["stake"]),
            update_time=m["bot_update_time"],
        ),
        risk=effective_limits(m["risk_limits"], m["risk_overrides"]),
    )


class TradingSubscriptions:
    def __init__(self, store: TradingViewStore) -> None:
        self._store = store

    async def get(self, subscription_id: str, principal: str = "") -> TradingView:
        row = await self._store.get(subscription_id, principal)
        if row is None:
            raise NotFound(
                f"subscription {subscription_id} does not exist", reason="SUBSCRIPTION_NOT_FOUND"
            )
        return _view(row, utcnow())

    async def batch_get(self, subscription_ids: Sequence[str]) -> list[TradingView]:
        """The ones that exist, in the order asked, each once; unknown ids are left out."""
        now = utcnow()
        found = {
            r["subscription_id"]: _view(r, now)
            for r in await self._store.get_many(subscription_ids)
        }
        return [found[i] for i in dict.fromkeys(subscription_ids) if i in found]

    async def batch_owned(self, asks: Sequence[tuple[str, str]]) -> list[tuple[str, TradingView]]:
        """(principal, view) for each distinct ask (subscription id, principal) that `get`
        with that principal would answer, in the order asked; the others are left out."""
        now = utcnow()
        rows = await self._store.get_owned(asks)
        found = {(row["subscription_id"], who): row for who, row in rows}
        return [
            (who, _view(found[(sid, who)], now))
            for sid, who in dict.fromkeys(asks)
            if (sid, who) in found
        ]

    async def list_live(self, requested_size: int, token: str) -> tuple[list[TradingView], str]:
        """A page of the subscriptions not CANCELED, oldest first (a newer one lands on a
        later page, so paging to the end sees every one that existed at the start)."""
        size = min(requested_size or LIST_DEFAULT_PAGE, LIST_MAX_PAGE)
        rows = await self._store.page_live(limit=size + 1, after=decode_token(token))
        now = utcnow()
        views = [_view(r, now) for r in rows]
        return views[:size], next_page_token(
            views, size, lambda v: (v.create_time, v.subscription_id)
        )
