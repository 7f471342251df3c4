"""SQL for the credential vault. Every read a user can reach filters by user_id; the only
reads without it are the internal ones (release by subscription, rewrap by key version).

A credential change that suspends or lifts subscriptions writes them, with their change-
stream entries, in its own transaction (subscriptions/suspension_store.py, opened with
`outbox.begin`). The store reports facts and decides no rule of another feature: whether a
subscription may trade is the subscriptions feature's rule (entitlement.py), applied by the
vault's use case to what `for_subscription` reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from credential_svc.subscriptions import outbox
from credential_svc.subscriptions.model import SubscriptionRecord
from credential_svc.subscriptions.suspension import CREDENTIAL_DELETED, CREDENTIAL_REFUSED
from credential_svc.subscriptions.suspension_store import lift_using, suspend_using
from credential_svc.tables import exchange_credentials as creds
from credential_svc.tables import subscriptions
from credential_svc.vault.crypto import Sealed
from mesh.audit import AuditLog, Event
from mesh.db import keyset_after

UNVERIFIED, ACTIVE, REFUSED, DELETED = "UNVERIFIED", "ACTIVE", "REFUSED", "DELETED"


@dataclass(frozen=True)
class CredentialRecord:
    """A credential row. `sealed` is None once shredded; it never leaves the vault."""

    credential_id: str
    user_id: str
    exchange: str
    label: str
    key_hint: str
    fingerprint: str
    state: str
    verified: bool
    can_trade: bool
    can_withdraw: bool
    verify_time: datetime | None
    create_time: datetime
    update_time: datetime
    sealed: Sealed | None = field(repr=False, default=None)


@dataclass(frozen=True)
class Verification:
    state: str
    can_trade: bool
    can_withdraw: bool
    time: datetime


@dataclass(frozen=True)
class Backing:
    """What a release decides on: the credential behind a subscription, and the
    subscription's state and paid time (whether it may trade now is entitlement.py's)."""

    credential: CredentialRecord
    subscription_state: str
    paid_until: datetime | None


def _record(row: Any) -> CredentialRecord:
    m = row._mapping
    sealed = None
    if m["wrapped_data_key"] is not None:
        sealed = Sealed(
            bytes(m["nonce"]),
            bytes(m["ciphertext"]),
            bytes(m["wrapped_data_key"]),
            m["key_version"],
        )
    return CredentialRecord(
        **{k: m[k] for k in CredentialRecord.__dataclass_fields__ if k != "sealed"},
        sealed=sealed,
    )


class VaultStore:
    def __init__(self, engine: AsyncEngine, audit: AuditLog) -> None:
        self._engine = engine
        self._audit = audit

    async def insert(self, record: CredentialRecord, event: Event) -> None:
        assert record.sealed is not None
        values = {k: v for k, v in record.__dict__.items() if k != "sealed"}
        async with self._engine.begin() as conn:
            await conn.execute(
                creds.insert().values(
                    **values,
                    nonce=record.sealed.nonce,
                    ciphertext=record.sealed.ciphertext,
                    wrapped_data_key=record.sealed.wrapped_data_key,
                    key_version=record.sealed.key_version,
                )
            )
            await self._audit.record(conn, event)

    async def get(self, user_id: str, credential_id: str) -> CredentialRecord | None:
        """The user's credential; deleted ones answer None like missing ones."""
        query = sa.select(creds).where(
            creds.c.credential_id == credential_id,
            creds.c.user_id == user_id,
            creds.c.state != DELETED,
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _record(row)

    async def page(
        self, user_id: str, *, limit: int, after: tuple[datetime, str] | None
    ) -> list[CredentialRecord]:
        query = (
            sa.select(creds)
            .where(
                creds.c.user_id == user_id,
                creds.c.state != DELETED,
                keyset_after(creds, "credential_id", after),
            )
            .order_by(creds.c.create_time.desc(), creds.c.credential_id.desc())
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_record(r) for r in rows]

    async def shred(
        self, user_id: str, credential_id: str, now: datetime, event: Event
    ) -> list[SubscriptionRecord] | None:
        """Destroys the data key and ciphertext and suspends the subscriptions using it
        (CREDENTIAL_DELETED), in one transaction; returns those suspended, or None when the
        user has no such credential."""
        async with outbox.begin(self._engine) as conn:
            result = await conn.execute(
                creds.update()
                .where(
                    creds.c.credential_id == credential_id,
                    creds.c.user_id == user_id,
                    creds.c.state != DELETED,
                )
                .values(
                    wrapped_data_key=None,
                    ciphertext=None,
                    nonce=None,
                    state=DELETED,
                    update_time=now,
                )
            )
            if result.rowcount != 1:
                return None
            await self._audit.record(conn, event)
            return await suspend_using(conn, self._audit, credential_id, CREDENTIAL_DELETED, now)

    async def record_verification(
        self, user_id: str, credential_id: str, outcome: Verification, event: Event
    ) -> list[SubscriptionRecord] | None:
        """Records a verification and, in the same transaction, suspends the credential's
        subscriptions when it was refused or lifts their CREDENTIAL_REFUSED suspensions when
        it was accepted; returns the subscriptions changed, or None when there is no such
        credential (deleted meanwhile)."""
        async with outbox.begin(self._engine) as conn:
            result = await conn.execute(
                creds.update()
                .where(
                    creds.c.credential_id == credential_id,
                    creds.c.user_id == user_id,
                    creds.c.state != DELETED,
                )
                .values(
                    state=outcome.state,
                    verified=True,
                    can_trade=outcome.can_trade,
                    can_withdraw=outcome.can_withdraw,
                    verify_time=outcome.time,
                    update_time=outcome.time,
                )
            )
            if result.rowcount != 1:
                return None
            await self._audit.record(conn, event)
            if outcome.state == ACTIVE:
                return await lift_using(conn, self._audit, credential_id, outcome.time)
            return await suspend_using(
                conn, self._audit, credential_id, CREDENTIAL_REFUSED, outcome.time
            )

    async def for_subscription(self, subscription_id: str) -> Backing | None:
        """The credential a subscription trades with and the subscription's state and paid
        time, if the subscription is its credential owner's (a subscription row naming another
        user's credential releases nothing)."""
        query = (
            sa.select(creds, subscriptions.c.state.label("sub_state"), subscriptions.c.paid_until)
            .join(subscriptions, subscriptions.c.credential_id == creds.c.credential_id)
            .where(
                subscriptions.c.subscription_id == subscription_id,
                subscriptions.c.user_id == creds.c.user_id,
            )
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return Backing(_record(row), row.sub_state, row.paid_until)

    async def audit(self, event: Event) -> None:
        async with self._engine.begin() as conn:
            await self._audit.record(conn, event)

    async def stale_batch(
        self, active: int, limit: int, *, after: str = ""
    ) -> list[tuple[str, int, bytes]]:
        """Up to `limit` live data keys wrapped by a version other than `active`, in id
        order after `after` (so a pass ends even when some rows cannot be rewrapped)."""
        query = (
            sa.select(creds.c.credential_id, creds.c.key_version, creds.c.wrapped_data_key)
            .where(
                creds.c.key_version != active,
                creds.c.wrapped_data_key.is_not(None),
                creds.c.credential_id > after,
            )
            .order_by(creds.c.credential_id)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [(r.credential_id, r.key_version, bytes(r.wrapped_data_key)) for r in rows]

    async def count_stale(self, active: int) -> int:
        query = sa.select(sa.func.count()).where(
            creds.c.key_version != active, creds.c.wrapped_data_key.is_not(None)
        )
        async with self._engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def swap_wrapped_key(
        self, credential_id: str, old: tuple[int, bytes], new: tuple[int, bytes]
    ) -> bool:
        """Compare-and-set: a row shredded or rewrapped meanwhile is left alone."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                creds.update()
                .where(
                    creds.c.credential_id == credential_id,
                    creds.c.key_version == old[0],
                    creds.c.wrapped_data_key == old[1],
                )
                .values(key_version=new[0], wrapped_data_key=new[1])
            )
        return bool(result.rowcount == 1)
