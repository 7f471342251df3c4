"""One ccxt client per credential, held only in this process's memory.

A client is built from a freshly released credential the first time a subscription using it
trades, shares the venue's market list (one exchangeInfo per process, not per credential),
and is closed when its bots stop (`close_credential`), when unused for a while, or at
shutdown. The secret never leaves the client object.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from mesh.errors import Internal
from trading_svc.credentials import CredentialSource
from trading_svc.exchange.errors import to_domain
from trading_svc.exchange.factory import ClientFactory

log = logging.getLogger("botmesh.trading.exchange")


class ExchangePool:
    def __init__(self, source: CredentialSource, factory: ClientFactory, idle_s: float) -> None:
        self._source = source
        self._factory = factory
        self._idle_s = idle_s
        self._clients: dict[str, tuple[Any, float]] = {}
        self._public: dict[str, Any] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def public(self, exchange: str) -> Any:
        """The venue's shared unauthenticated client, markets loaded."""
        async with self._locks.setdefault(f"public:{exchange}", asyncio.Lock()):
            client = self._public.get(exchange)
            if client is None:
                client = self._factory.rest(exchange)
                try:
                    await client.load_markets()
                except Exception as exc:
                    await client.close()
                    raise to_domain(exc, exchange) from None
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
            credential = await self._source.release(subscription_id)
            if credential.credential_id != credential_id:
                raise Internal("the released credential is not the subscription's")
            public = await self.public(exchange)
            client = self._factory.rest(exchange, credential)
            client.set_markets(public.markets, public.currencies)
            try:
                await client.load_time_difference()
            except Exception as exc:
                await client.close()
                raise to_domain(exc, exchange) from None
            self._clients[credential_id] = (client, time.monotonic())
            log.info("exchange client opened", extra={"fields": {"credential_id": credential_id}})
            return client

    async def close_credential(self, credential_id: str) -> None:
        """Drops the credential's client (its bots stopped, or the credential went away)."""
        hit = self._clients.pop(credential_id, None)
        if hit is not None:
            with contextlib.suppress(Exception):
                await hit[0].close()
            log.info("exchange client closed", extra={"fields": {"credential_id": credential_id}})

    async def close_idle(self) -> None:
        cutoff = time.monotonic() - self._idle_s
        for credential_id, (_, used) in list(self._clients.items()):
            if used < cutoff:
                await self.close_credential(credential_id)

    async def close(self) -> None:
        for credential_id in list(self._clients):
            await self.close_credential(credential_id)
        for client in self._public.values():
            with contextlib.suppress(Exception):
                await client.close()
        self._public.clear()
        await self._source.close()
