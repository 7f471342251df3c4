"""Async client for the simulator's admin API (accounts, prices, faults, limits, counters).

Used by this package's tests and meant for the mesh's e2e tests and benchmarks:

    async with AdminClient(base_url, token) as admin:
        creds = await admin.create_account({"USDT": "10000"}, can_withdraw=False)
        await admin.add_fault("drop_response", method="POST", path="/api/v3/order", count=1)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import TracebackType
from typing import Any

import aiohttp

Amount = str | int | float | Decimal


class AdminAPIError(Exception):
    """Non-2xx admin answer."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"admin API {status}: {body}")
        self.status = status
        self.body = body


@dataclass(frozen=True)
class Credentials:
    """API key pair of a simulator account."""

    api_key: str
    api_secret: str
    uid: int


def _drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


class AdminClient:
    """Thin async wrapper over ``/admin/...`` (one aiohttp session, closed by ``close``)."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"X-Admin-Token": token} if token else {}
        self._session = session
        self._owns_session = session is None

    async def __aenter__(self) -> AdminClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the owned HTTP session."""
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    async def request(
        self, method: str, path: str, json: Any = None, params: Mapping[str, str] | None = None
    ) -> Any:
        """Raw admin call; returns decoded JSON or raises AdminAPIError."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
            self._owns_session = True
        async with self._session.request(
            method, self.base_url + path, json=json, params=params, headers=self._headers
        ) as resp:
            body = await resp.json(content_type=None)
            if resp.status >= 300:
                raise AdminAPIError(resp.status, body)
            return body

    # -- accounts ----------------------------------------------------------------------------
    async def create_account(
        self,
        balances: Mapping[str, Amount] | None = None,
        *,
        can_read: bool = True,
        can_trade: bool = True,
        can_withdraw: bool = False,
        ip_whitelist: list[str] | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        weight_limit: int | None = None,
        fee_asset: str | None = None,
    ) -> Credentials:
        """New account; ``balances`` like ``{"USDT": "10000", "BTC": "0.5"}``;
        ``fee_asset="received"`` charges fees in the asset a fill pays out (a buy's in the
        base asset, as Binance does), instead of always in the quote."""
        body = _drop_none(
            {
                "balances": {k: str(v) for k, v in (balances or {}).items()},
                "can_read": can_read,
                "can_trade": can_trade,
                "can_withdraw": can_withdraw,
                "ip_whitelist": ip_whitelist,
                "api_key": api_key,
                "api_secret": api_secret,
                "weight_limit": weight_limit,
                "fee_asset": fee_asset,
            }
        )
        data = await self.request("POST", "/admin/accounts", body)
        return Credentials(data["api_key"], data["api_secret"], int(data["uid"]))

    async def account(self, api_key: str) -> dict[str, Any]:
        """Permissions and balances (``balances[asset] = {"free", "locked"}``)."""
        result: dict[str, Any] = await self.request("GET", f"/admin/accounts/{api_key}")
        return result

    async def set_balances(
        self, api_key: str, balances: Mapping[str, Amount], mode: str = "set"
    ) -> dict[str, Any]:
        """Set (or with ``mode="add"`` add to) free balances."""
        body = {"balances": {k: str(v) for k, v in balances.items()}, "mode": mode}
        result: dict[str, Any] = await self.request(
            "POST", f"/admin/accounts/{api_key}/balances", body
        )
        return result

    async def set_permissions(self, api_key: str, **fields: Any) -> dict[str, Any]:
        """Update can_read / can_trade / can_withdraw / ip_whitelist / weight_limit."""
        result: dict[str, Any] = await self.request(
            "POST", f"/admin/accounts/{api_key}/permissions", fields
        )
        return result

    async def orders(
        self, api_key: str, *, symbol: str | None = None, client_order_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Every order of the account (any status), Binance order JSON plus ``apiKey``."""
        query = _drop_none({"api_key": api_key, "symbol": symbol, "clientOrderId": client_order_id})
        data = await self.request("GET", "/admin/orders", params=query)
        return list(data["orders"])

    async def trades(self, api_key: str, *, symbol: str | None = None) -> list[dict[str, Any]]:
        """Every fill of the account (myTrades JSON)."""
        query = _drop_none({"api_key": api_key, "symbol": symbol})
        data = await self.request("GET", "/admin/trades", params=query)
        return list(data["trades"])

    # -- markets -----------------------------------------------------------------------------
    async def markets(self) -> list[dict[str, Any]]:
        """Current price and settings of each market."""
        return list(await self.request("GET", "/admin/markets"))

    async def set_price(
        self, symbol: str, price: Amount, *, hold: bool = True, drift_per_minute: Amount = 0
    ) -> dict[str, Any]:
        """Force ``symbol``'s price: held flat, trending by ``drift_per_minute`` (a fraction
        per sim minute), or moving on from it randomly with ``hold=False``."""
        body = {"price": str(price), "hold": hold, "drift_per_minute": str(drift_per_minute)}
        result: dict[str, Any] = await self.request("POST", f"/admin/markets/{symbol}/price", body)
        return result

    async def release_price(self, symbol: str) -> dict[str, Any]:
        """Return ``symbol`` to its seeded path."""
        result: dict[str, Any] = await self.request("DELETE", f"/admin/markets/{symbol}/price")
        return result

    async def set_maker_liquidity(self, symbol: str, qty: Amount | None) -> dict[str, Any]:
        """Base qty a resting order may fill per matching step (None: top-of-book size)."""
        body = {"maker_liquidity": None if qty is None else str(qty)}
        result: dict[str, Any] = await self.request(
            "POST", f"/admin/markets/{symbol}/liquidity", body
        )
        return result

    async def pause_matcher(self, paused: bool = True) -> None:
        """Stop/resume the background matcher."""
        await self.request("POST", "/admin/matcher", {"paused": paused})

    async def match_step(self) -> int:
        """Run one matching step; returns the number of fills."""
        data = await self.request("POST", "/admin/matcher/step")
        return int(data["fills"])

    async def set_speed(self, speed: float) -> None:
        """Change the sim-clock speed factor."""
        await self.request("POST", "/admin/clock", {"speed": speed})

    # -- faults ------------------------------------------------------------------------------
    async def add_fault(
        self,
        kind: str,
        *,
        method: str | None = None,
        path: str | None = None,
        api_key: str | None = None,
        probability: float | None = None,
        seed: int | None = None,
        count: int | None = None,
        latency_ms: int | None = None,
        status: int | None = None,
        execute: bool | None = None,
        hang_ms: int | None = None,
    ) -> dict[str, Any]:
        """Add a fault rule (kinds: latency, http_5xx, timeout_1007, drop_response, hang)."""
        body = _drop_none(
            {
                "kind": kind,
                "method": method,
                "path": path,
                "api_key": api_key,
                "probability": probability,
                "seed": seed,
                "count": count,
                "latency_ms": latency_ms,
                "status": status,
                "execute": execute,
                "hang_ms": hang_ms,
            }
        )
        result: dict[str, Any] = await self.request("POST", "/admin/faults", body)
        return result

    async def faults(self) -> list[dict[str, Any]]:
        """Rules with ``matched``/``fired`` counters."""
        return list(await self.request("GET", "/admin/faults"))

    async def clear_faults(self) -> None:
        """Remove every fault rule."""
        await self.request("DELETE", "/admin/faults")

    # -- rate limits and counters ------------------------------------------------------------
    async def set_rate_limits(
        self,
        *,
        limit: int | None = None,
        window_s: float | None = None,
        ban_seconds: float | None = None,
        scope: str | None = None,
    ) -> dict[str, Any]:
        """Change REQUEST_WEIGHT settings."""
        body = _drop_none(
            {"limit": limit, "window_s": window_s, "ban_seconds": ban_seconds, "scope": scope}
        )
        result: dict[str, Any] = await self.request("POST", "/admin/rate_limits", body)
        return result

    async def reset_rate_limits(self) -> None:
        """Forget all weight counters and bans."""
        await self.request("POST", "/admin/rate_limits/reset")

    async def stats(self) -> dict[str, Any]:
        """Request counters per endpoint, order count, fault counters."""
        result: dict[str, Any] = await self.request("GET", "/admin/stats")
        return result
