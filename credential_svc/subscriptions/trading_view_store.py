"""SQL for the trading view: a subscription joined to its credential and its bot, read by
one id, by a batch of ids (one IN query), by a batch of (id, principal) asks (one IN query
on both, the owner's user joined), or page by page oldest first. Rows only; the
verdict on them is the use case's (trading_view.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from credential_svc.identity.store import ACTIVE as USER_ACTIVE
from credential_svc.subscriptions.model import CANCELED
from credential_svc.tables import bots, exchange_credentials, subscriptions, users

Row = Mapping[str, Any]

_COLUMNS = (
    subscriptions.c.subscription_id,
    subscriptions.c.user_id,
    subscriptions.c.credential_id,
    exchange_credentials.c.exchange,
    subscriptions.c.market,
    subscriptions.c.allocation,
    subscriptions.c.risk_overrides,
    subscriptions.c.state,
    subscriptions.c.state_reason,
    subscriptions.c.paid_until,
    exchange_credentials.c.state.label("credential_state"),
    subscriptions.c.create_time,
    subscriptions.c.update_time,
    bots.c.bot_id,
    bots.c.strategy,
    bots.c.strategy_params,
    bots.c.timeframe,
    bots.c.advisor_enabled,
    bots.c.stake,
    bots.c.risk_limits,
    bots.c.update_time.label("bot_update_time"),
)


def _select() -> sa.Select[Any]:
    return (
        sa.select(*_COLUMNS)
        .join(
            exchange_credentials,
            exchange_credentials.c.credential_id == subscriptions.c.credential_id,
        )
        .join(bots, bots.c.bot_id == subscriptions.c.bot_id)
    )


def _any_of(column: sa.ColumnElement[str], values: set[str]) -> sa.ColumnElement[bool]:
    """`column = v` for one value (a single read, the common case: an expanding IN costs
    about 0.4 ms more per statement here), else `column IN (...)`."""
    if len(values) == 1:
        return column == next(iter(values))
    return column.in_(sorted(values))


class TradingViewStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self, subscription_id: str, principal: str = "") -> Row | None:
        """The row; with a principal, only if it belongs to that principal's active user
        (the one ownership rule: get_owned's)."""
        if principal:
            owned = await self.get_owned([(subscription_id, principal)])
            return owned[0][1] if owned else None
        query = _select().where(subscriptions.c.subscription_id == subscription_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else row._mapping

    async def get_many(self, subscription_ids: Sequence[str]) -> list[Row]:
        """The rows of the ids that exist, in one query (ids may repeat; rows do not)."""
        wanted = sorted(set(subscription_ids))
        if not wanted:
            return []
        query = _select().where(subscriptions.c.subscription_id.in_(wanted))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [r._mapping for r in rows]

    async def get_owned(self, asks: Sequence[tuple[str, str]]) -> list[tuple[str, Row]]:
        """(principal, row) for each distinct ask (subscription id, principal) whose
        principal's active user owns the subscription, in one query."""
        wanted = set(asks)
        if not wanted:
            return []
        query = (
            _select()
            .add_columns(users.c.principal)
            .join(users, users.c.user_id == subscriptions.c.user_id)
            .where(
                _any_of(subscriptions.c.subscription_id, {sid for sid, _ in wanted}),
                _any_of(users.c.principal, {who for _, who in wanted}),
                users.c.state == USER_ACTIVE,
            )
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        owned: list[tuple[str, Row]] = []
        for r in rows:
            if (r.subscription_id, r.principal) in wanted:  # not another asker's principal
                owned.append((str(r.principal), cast(Row, r._mapping)))
        return owned

    async def page_live(self, *, limit: int, after: tuple[datetime, str] | None) -> list[Row]:
        """Up to `limit` rows not CANCELED, oldest first by (create_time, id), after `after`."""
        query = _select().where(subscriptions.c.state != CANCELED)
        if after is not None:
            when, row_id = after
            created, ident = subscriptions.c.create_time, subscriptions.c.subscription_id
            query = query.where(sa.or_(created > when, sa.and_(created == when, ident > row_id)))
        query = query.order_by(subscriptions.c.create_time, subscriptions.c.subscription_id).limit(
            limit
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [r._mapping for r in rows]
