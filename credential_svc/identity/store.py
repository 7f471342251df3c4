"""SQL for users, including erasure, which spans users, credentials and subscriptions in one
transaction so a half-erased user can never be observed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from credential_svc.tables import exchange_credentials, subscriptions, users
from mesh.audit import AuditLog, Event
from mesh.errors import AlreadyExists

ACTIVE = "ACTIVE"
ERASED = "ERASED"


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

    async def erase(self, user: UserRecord, now: datetime, event: Event) -> Erasure:
        """Shreds the user's credentials (wrapped data keys and ciphertexts destroyed),
        cancels their subscriptions and anonymises the user row. Trade records keep their
        subscription and user ids, which now lead to an anonymous row."""
        async with self._engine.begin() as conn:
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
            live = subscriptions.c.user_id == user.user_id, subscriptions.c.state != "CANCELED"
            ids = tuple(
                (
                    await conn.execute(
                        sa.select(subscriptions.c.subscription_id).where(*live).with_for_update()
                    )
                ).scalars()
            )
            canceled = await conn.execute(
                subscriptions.update()
                .where(*live)
                .values(state="CANCELED", state_reason="USER_ERASED", update_time=now)
            )
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
        return Erasure(erased, shredded.rowcount, canceled.rowcount, ids)
