"""User use cases: register the acting principal, read it, erase it.

Every user-scoped use case in credential_svc starts from `acting_user(principal)`, so the
acting principal's user is the root of every query: an object that is not theirs is simply
not found, exactly like one that does not exist.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence

from credential_svc.identity.resolve import PrincipalResolver
from credential_svc.identity.store import ACTIVE, Erasure, UserRecord, UserStore
from mesh.audit import Event
from mesh.db import utcnow
from mesh.errors import NotFound
from mesh.ids import new_id
from mesh.redis import OUTAGE_ERRORS

# Told which subscriptions an erasure canceled, after the commit (the change feed).
OnCanceled = Callable[[str, Sequence[str]], Awaitable[None]]


class Users:
    def __init__(
        self, store: UserStore, resolver: PrincipalResolver, on_canceled: OnCanceled | None = None
    ) -> None:
        self._store = store
        self._resolver = resolver
        self._on_canceled = on_canceled

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
        # The cached resolution is dropped first: with Redis down the erasure is refused
        # (UNAVAILABLE) before anything is written, not answered 503 after its commit. The
        # second drop, best effort, removes what a concurrent resolve cached meanwhile.
        await self._resolver.forget(principal)
        erased = await self._store.erase(user, utcnow(), Event("user.erase", user.user_id))
        with contextlib.suppress(*OUTAGE_ERRORS):  # the entry expires after its short TTL
            await self._resolver.forget(principal)
        if self._on_canceled is not None and erased.canceled_subscription_ids:
            await self._on_canceled(user.user_id, erased.canceled_subscription_ids)
        return erased
