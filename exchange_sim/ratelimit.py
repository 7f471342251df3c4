"""REQUEST_WEIGHT accounting: Binance's per-minute weight limit, 429 and the 418 ban.

Binance counts a weight per request in fixed windows.  Going over the limit returns 429 with
``Retry-After``; a client that keeps sending during that back-off gets its IP banned (418).
Buckets are per IP by default, or per API key (scope "key", or when a key has its own limit),
which lets tests exercise the limits without disturbing each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

# Binance spot REQUEST_WEIGHT of the endpoints the simulator serves ("noSymbol" = all markets).
_WEIGHTS: dict[tuple[str, str], tuple[int, int]] = {
    ("GET", "/api/v3/exchangeInfo"): (20, 20),
    ("GET", "/api/v3/klines"): (2, 2),
    ("GET", "/api/v3/uiKlines"): (2, 2),
    ("GET", "/api/v3/ticker/24hr"): (2, 80),
    ("GET", "/api/v3/ticker/price"): (2, 4),
    ("GET", "/api/v3/ticker/bookTicker"): (2, 4),
    ("GET", "/api/v3/avgPrice"): (2, 2),
    ("GET", "/api/v3/account"): (20, 20),
    ("GET", "/api/v3/order"): (4, 4),
    ("GET", "/api/v3/openOrders"): (6, 80),
    ("GET", "/api/v3/allOrders"): (20, 20),
    ("GET", "/api/v3/myTrades"): (20, 20),
    ("GET", "/sapi/v1/capital/config/getall"): (10, 10),
}


def request_weight(method: str, path: str, params: dict[str, str]) -> int:
    """Weight Binance charges for one request."""
    if method == "GET" and path == "/api/v3/depth":
        raw = params.get("limit", "")
        limit = int(raw) if raw.isdigit() else 100
        return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250
    with_symbol, without = _WEIGHTS.get((method, path), (1, 1))
    has_symbol = "symbol" in params or "symbols" in params
    return with_symbol if has_symbol else without


class Verdict(Enum):
    """Outcome of charging a request."""

    OK = 200
    LIMITED = 429
    BANNED = 418


@dataclass(frozen=True)
class Decision:
    """Whether a request may proceed, the weight used so far, and the back-off if not."""

    verdict: Verdict
    used: int
    limit: int
    retry_after_s: int = 0
    banned_until_ms: int = 0


@dataclass
class _Bucket:
    window_start: float
    used: int = 0
    limited: bool = False
    banned_until: float = 0.0


@dataclass
class RateLimitSettings:
    """Tunable via the admin API (tests use tiny limits and short bans)."""

    limit: int
    window_s: float
    ban_seconds: float
    scope: str  # "ip" | "key"


class RateLimiter:
    """Fixed-window weight counters per bucket (IP or API key)."""

    def __init__(self, settings: RateLimitSettings) -> None:
        self.settings = settings
        self._buckets: dict[str, _Bucket] = {}

    def reset(self) -> None:
        """Forget all counters and bans."""
        self._buckets.clear()

    def bucket_for(self, ip: str, api_key: str | None, key_has_limit: bool) -> str:
        """Bucket id: per key when configured (or the key has its own limit), else per IP."""
        if api_key and (self.settings.scope == "key" or key_has_limit):
            return f"key:{api_key}"
        return f"ip:{ip}"

    def used(self, bucket: str, now: float) -> int:
        """Weight used in the current window of ``bucket``."""
        state = self._buckets.get(bucket)
        if state is None or now >= state.window_start + self.settings.window_s:
            return 0
        return state.used

    def charge(self, bucket: str, weight: int, now: float, limit: int | None = None) -> Decision:
        """Count ``weight`` for ``bucket`` at time ``now`` (seconds) and decide."""
        cfg = self.settings
        cap = limit if limit is not None else cfg.limit
        state = self._buckets.get(bucket)
        if state is None:
            state = self._buckets[bucket] = _Bucket(window_start=now)
        if state.banned_until > now:
            return self._banned(state, now, cap)
        if now >= state.window_start + cfg.window_s:
            state.window_start, state.used, state.limited = now, 0, False
        if state.limited:  # kept sending after a 429: Binance bans the IP
            state.banned_until = now + cfg.ban_seconds
            return self._banned(state, now, cap)
        state.used += weight
        if state.used > cap:
            state.limited = True
            retry = math.ceil(state.window_start + cfg.window_s - now)
            return Decision(Verdict.LIMITED, state.used, cap, retry_after_s=max(retry, 1))
        return Decision(Verdict.OK, state.used, cap)

    @staticmethod
    def _banned(state: _Bucket, now: float, cap: int) -> Decision:
        return Decision(
            Verdict.BANNED,
            state.used,
            cap,
            retry_after_s=max(math.ceil(state.banned_until - now), 1),
            banned_until_ms=int(state.banned_until * 1000),
        )
