"""Limits on streams opened with dashboard tokens (StreamPrices, StreamEvents).

Rules kept:
- at most `per_token` concurrent streams per token and `per_principal` per principal, across
  every trading_svc process (leased slots in Redis, mesh/lease_slots.py); past a cap the
  stream is refused with RESOURCE_EXHAUSTED before its first message. Redis names a token
  by its hash, never by the token;
- a stream ends when its token expires: every wait of the stream is bounded by the time
  left, and then the stream closes with UNAUTHENTICATED, reason ACCESS_TOKEN_EXPIRED (the
  same answer a new call with that token gets).
Streams opened with an API key are not counted here (the key's own rate limit applies). If
Redis cannot be reached, the same caps are kept per process instead (a stream is not refused
for want of the shared counter); expiry is enforced either way.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from redis.asyncio import Redis
from redis.exceptions import RedisError

from mesh import dashboard_tokens
from mesh.auth import Caller
from mesh.errors import ResourceExhausted
from mesh.ids import new_id
from mesh.lease_slots import LeasedSlots

log = logging.getLogger("botmesh.trading.streams")

PREFIX = "botmesh:trading:streams:"
DEFAULT_PER_TOKEN = 4
DEFAULT_PER_PRINCIPAL = 16
LEASE_S = 60.0


class StreamLease:
    """One open stream: how long it may still wait, and its slot kept alive meanwhile."""

    def __init__(
        self,
        expires: datetime | None,
        slots: LeasedSlots | None = None,
        member: str = "",
        groups: list[str] | None = None,
    ) -> None:
        self._expires = expires
        self._slots = slots
        self._member = member
        self._groups = groups or []
        self._renewed = time.monotonic()

    async def wait_s(self, want_s: float) -> float:
        """How long the next wait may last: `want_s`, or less if the token expires sooner.
        Raises UNAUTHENTICATED once the token has expired."""
        if self._slots is not None and time.monotonic() - self._renewed >= LEASE_S / 3:
            self._renewed = time.monotonic()
            with contextlib.suppress(RedisError):
                await self._slots.renew(self._member, self._groups)
        if self._expires is None:
            return want_s
        left = (self._expires - datetime.now(UTC)).total_seconds()
        if left <= 0:
            raise dashboard_tokens.expired()
        return min(want_s, left)


class StreamLimits:
    def __init__(
        self,
        redis: Redis,
        *,
        per_token: int = DEFAULT_PER_TOKEN,
        per_principal: int = DEFAULT_PER_PRINCIPAL,
    ) -> None:
        if per_token < 1 or per_principal < 1:
            raise ValueError("stream caps must be positive")
        self._slots = LeasedSlots(redis, lease_ms=int(LEASE_S * 1000))
        self.per_token = per_token
        self.per_principal = per_principal
        # Open streams per group in this process, counted only while Redis is unreachable.
        self._local: Counter[str] = Counter()

    @contextlib.asynccontextmanager
    async def open(self, who: Caller) -> AsyncIterator[StreamLease]:
        """Holds a slot for the stream's life; refuses past a cap."""
        if not who.dashboard or who.token_id is None or who.principal is None:
            yield StreamLease(None)
            return
        member = new_id("stm")
        groups = [f"{PREFIX}token:{who.token_id}", f"{PREFIX}principal:{who.principal}"]
        try:
            full = await self._slots.take(member, list(zip(groups, self._caps(), strict=True)))
        except RedisError:
            log.warning("stream caps kept per process: Redis unavailable")
            async with self._local_slot(groups):
                yield StreamLease(who.token_expires)
            return
        if full is not None:
            raise self._refusal(full)
        try:
            yield StreamLease(who.token_expires, self._slots, member, groups)
        finally:
            with contextlib.suppress(Exception):
                await self._slots.release(member, groups)

    @contextlib.asynccontextmanager
    async def _local_slot(self, groups: list[str]) -> AsyncIterator[None]:
        for index, (group, cap) in enumerate(zip(groups, self._caps(), strict=True)):
            if self._local[group] >= cap:
                raise self._refusal(index)
        for group in groups:
            self._local[group] += 1
        try:
            yield
        finally:
            for group in groups:
                self._local[group] -= 1
                if self._local[group] <= 0:
                    del self._local[group]

    def _caps(self) -> list[int]:
        return [self.per_token, self.per_principal]

    def _refusal(self, full: int) -> ResourceExhausted:
        if full == 0:
            return ResourceExhausted(
                f"this access token already has {self.per_token} open streams",
                retry_after_s=1.0,
                reason="STREAMS_PER_TOKEN_LIMIT",
            )
        return ResourceExhausted(
            f"this principal already has {self.per_principal} open streams",
            retry_after_s=1.0,
            reason="STREAMS_PER_PRINCIPAL_LIMIT",
        )
