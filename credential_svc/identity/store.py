"""SQL for users, including erasure, which spans users, credentials and subscriptions in one
transaction so a half-erased user can never be observed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from credential_svc.subscriptions import outbox
from credential_svc.tables import exchange_credentials, users
from mesh.audit import AuditLog, Event
from mesh.errors import AlreadyExists

ACTIVE = "ACTIVE"
ERASED = "ERASED"
# The subscription side's cancel of a user's live subscriptions, in the erasure's own
# transaction (announced through the outbox there); returns their ids.
CancelLive = Callable[[AsyncConnection, str, datetime], Awaitable[Sequence[str]]]


@dataclass(frozen=True)
class UserRecord:
    user_id: str
    principal: str | None
    display_name: str
    email: str
    state: str
    create_time: datetime
    update_time: datetime


@dataclass(frozen=True)
class Erasure:
    user: UserRecord
    credentials_shredded: int
    subscriptions_canceled: int
    # For the subscription-change feed: trading_svc stops these bots.
    canceled_subscription_ids: tuple[str, ...] = ()


def _user(row: Any) -> UserRecord:
    return UserRecord(**{k: row._mapping[k] for k in UserRecord.__dataclass_fields__})


class UserStore:
    def __init__(self, engine: AsyncEngine, audit: AuditLog) -> None:
        self._engine = engine
        self._audit = audit

    async def insert(self, user: UserRecord, event: Event) -> None:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(users.insert().values(**user.__dict__))
                await self._audit.record(conn, event)
        except IntegrityError:  # unique principal: registered already, maybe concurrently
            raise AlreadyExists(
                "this principal is already registered", reason="USER_EXISTS"
            ) from None

    async def by_principal(self, principal: str) -> UserRecord | None:
        """The principal's active user. Erased users have no principal, so never match."""
        query = sa.select(users).where(users.c.principal == principal, users.c.state == ACTIVE)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _user(row)

    async def erase(
        self, user: UserRecord, now: datetime, event: Event, cancel_live: CancelLive
    ) -> Erasure:
        """Shreds the user's credentials (wrapped data keys and ciphertexts destroyed),
        cancels what is still live of their subscriptions with `cancel_live` (the
        subscription side's, announced through the outbox in this same transaction) and
        anonymises the user row, all in one commit. Trade records keep their subscription
        and user ids, which now lead to an anonymous row."""
        async with outbox.begin(self._engine) as conn:
            shredded = await conn.execute(
                exchange_credentials.update()
                .where(exchange_credentials.c.user_id == user.user_id)
                .values(
                    wrapped_data_key=None,
                    ciphertext=None,
                    nonce=None,
                    key_hint="",
                    fingerprint="",
                    label="",
                    state="DELETED",
                    update_time=now,
                )
            )
            # Normally none is left (the erasure's first step canceled them); one created
            # since is canceled here, announced through the outbox like every change.
            canceled = await cancel_live(conn, user.user_id, now)
            await conn.execute(
                users.update()
                .where(users.c.user_id == user.user_id)
                .values(principal=None, display_name="", email="", state=ERASED, update_time=now)
            )
            await self._audit.record(conn, event)
        erased = UserRecord(
            user_id=user.user_id,
            principal=None,
            display_name="",
            email="",
            state=ERASED,
            create_time=user.create_time,
            update_time=now,
        )
        return Erasure(erased, shredded.rowcount, len(canceled), tuple(canceled))
