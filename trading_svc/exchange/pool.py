"""One ccxt client per credential, held only in this process's memory.

A client is built from a freshly released credential the first time a subscription using it
trades, shares the venue's market list (one exchangeInfo per process, not per credential),
and is closed when a subscription using it stops or its credential goes away
(`close_credential`, driven by the subscription-change stream), when unused for a while, or
at shutdown. The secret never leaves the client object.

A close wins over a build in flight: each close bumps the credential's epoch, and a client
whose release began before the last close is closed instead of pooled, so a credential
deleted while its client was being built is never used from the pool afterwards.

Wind-down clients (`wind_down`) are never pooled: built from a WIND_DOWN release, used to
cancel a stopped subscription's open orders, and closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from exchanges.clients import ClientFactory
from exchanges.errors import to_domain
from mesh.errors import FailedPrecondition, Internal
from trading_svc.credentials import WIND_DOWN, Credential, CredentialSource

log = logging.getLogger("botmesh.trading.exchange")


async def _discard(client: Any) -> None:
    """Closes a client that failed or is no longer wanted. A failure to close it is logged
    and swallowed: the caller's answer is the original error (mapped by to_domain), never an
    INTERNAL from the cleanup."""
    try:
        await client.close()
    except Exception as exc:
        log.warning(
            "could not close an exchange client", extra={"fields": {"error": type(exc).__name__}}
        )


class ExchangePool:
    def __init__(self, source: CredentialSource, factory: ClientFactory, idle_s: float) -> None:
        self._source = source
        self._factory = factory
        self._idle_s = idle_s
        self._clients: dict[str, tuple[Any, float]] = {}
        self._public: dict[str, Any] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._epochs: dict[str, int] = {}

    async def public(self, exchange: str) -> Any:
        """The venue's shared unauthenticated client, markets loaded."""
        async with self._locks.setdefault(f"public:{exchange}", asyncio.Lock()):
            client = self._public.get(exchange)
            if client is None:
                client = self._factory.rest(exchange)
                try:
                    await client.load_markets()
                except Exception as exc:
                    await _discard(client)
                    raise to_domain(exc, exchange) from None
                except asyncio.CancelledError:  # the caller went away mid-load
                    await _discard(client)
                    raise
                self._public[exchange] = client
            return client

    async def trading(self, subscription_id: str, credential_id: str, exchange: str) -> Any:
        """The client that trades with `credential_id`, released for `subscription_id`."""
        hit = self._clients.get(credential_id)
        if hit is not None:
            self._clients[credential_id] = (hit[0], time.monotonic())
            return hit[0]
        async with self._locks.setdefault(credential_id, asyncio.Lock()):
            hit = self._clients.get(credential_id)
            if hit is not None:
                return hit[0]
            epoch = self._epochs.get(credential_id, 0)
            credential = await self._source.release(subscription_id)
            if credential.credential_id != credential_id:
                raise Internal("the released credential is not the subscription's")
            client = await self._build(exchange, credential)
            if self._epochs.get(credential_id, 0) != epoch:  # closed while we built it
                await _discard(client)
                raise FailedPrecondition(
                    "the subscription's credential was just withdrawn",
                    reason="CREDENTIAL_UNAVAILABLE",
                )
            self._clients[credential_id] = (client, time.monotonic())
            log.info("exchange client opened", extra={"fields": {"credential_id": credential_id}})
            return client

    @contextlib.asynccontextmanager
    async def wind_down(self, subscription_id: str, exchange: str) -> AsyncIterator[Any]:
        """A client for cancelling a stopped subscription's orders only; never pooled."""
        credential = await self._source.release(subscription_id, WIND_DOWN)
        client = await self._build(exchange, credential)
        try:
            yield client
        finally:
            with contextlib.suppress(Exception):
                await client.close()

    async def _build(self, exchange: str, credential: Credential) -> Any:
        public = await self.public(exchange)
        client = self._factory.rest(exchange, credential)
        client.set_markets(public.markets, public.currencies)
        try:
            await client.load_time_difference()
        except Exception as exc:
            await _discard(client)
            raise to_domain(exc, exchange) from None
        except asyncio.CancelledError:
            await _discard(client)
            raise
        return client

    async def close_credential(self, credential_id: str) -> None:
        """Drops the credential's client (its bots stopped, or the credential went away)."""
        self._epochs[credential_id] = self._epochs.get(credential_id, 0) + 1
        hit = self._clients.pop(credential_id, None)
        if hit is not None:
            with contextlib.suppress(Exception):
                await hit[0].close()
            log.info("exchange client closed", extra={"fields": {"credential_id": credential_id}})

    async def close_trading(self) -> None:
        """Drops every credential's client: after missing changes, the next order releases
        its credential again, and the release decides afresh."""
        for credential_id in list(self._clients):
            await self.close_credential(credential_id)

    def holds(self, credential_id: str) -> bool:
        return credential_id in self._clients

    async def close_idle(self) -> None:
        cutoff = time.monotonic() - self._idle_s
        for credential_id, (_, used) in list(self._clients.items()):
            if used < cutoff:
                await self.close_credential(credential_id)

    async def close(self) -> None:
        await self.close_trading()
        for client in self._public.values():
            with contextlib.suppress(Exception):
                await client.close()
        self._public.clear()
        await self._source.close()
