"""User use cases: register the acting principal, read it, erase it.

Erasure runs in three steps, so that nothing keeps trading and no order is left open on the
exchange once the keys that could cancel it are gone:
1. every live subscription of the user is CANCELED (USER_ERASED) and announced, so every
   trading_svc process drops its clients and refuses orders;
2. trading_svc cancels their open orders (WindDownSubscriptions, bounded); if it cannot be
   reached the erasure stops here with UNAVAILABLE, and a retry starts again at step 1;
3. one transaction shreds the credentials and anonymises the user (identity/store.py).

Every user-scoped use case in credential_svc starts from `acting_user(principal)`, so the
acting principal's user is the root of every query: an object that is not theirs is simply
not found, exactly like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from credential_svc.identity.store import ACTIVE, Erasure, UserRecord, UserStore
from credential_svc.subscriptions.suspension_store import ErasureSteps
from mesh.audit import Event
from mesh.db import utcnow
from mesh.errors import NotFound
from mesh.ids import new_id

# Cancels the open orders of these subscriptions on the exchange (trading_svc).
WindDown = Callable[[Sequence[str]], Awaitable[None]]


class Users:
    def __init__(
        self,
        store: UserStore,
        steps: ErasureSteps,
        *,
        wind_down: WindDown | None = None,
    ) -> None:
        self._store = store
        self._steps = steps
        self._wind_down = wind_down

    async def create(self, principal: str, display_name: str, email: str) -> UserRecord:
        now = utcnow()
        user = UserRecord(
            user_id=new_id("usr"),
            principal=principal,
            display_name=display_name,
            email=email,
            state=ACTIVE,
            create_time=now,
            update_time=now,
        )
        await self._store.insert(user, Event("user.create", user.user_id))
        return user

    async def acting_user(self, principal: str) -> UserRecord:
        user = await self._store.by_principal(principal)
        if user is None:
            raise NotFound(
                "the acting principal has no user; register it with CreateUser first",
                reason="USER_NOT_FOUND",
            )
        return user

    async def erase(self, principal: str) -> Erasure:
        user = await self.acting_user(principal)
        canceled = await self._steps.cancel_all(user.user_id, utcnow())
        if self._wind_down is not None:
            await self._wind_down(await self._steps.all_ids(user.user_id))
        erased = await self._store.erase(
            user, utcnow(), Event("user.erase", user.user_id), self._steps.cancel_in
        )
        return replace(
            erased,
            subscriptions_canceled=erased.subscriptions_canceled + len(canceled),
            canceled_subscription_ids=(
                *(s.subscription_id for s in canceled),
                *erased.canceled_subscription_ids,
            ),
        )
