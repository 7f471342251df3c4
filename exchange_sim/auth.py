"""Binance SIGNED endpoint security: API key, HMAC-SHA256 signature, timestamp/recvWindow.

The signature covers the *raw* query string followed by the raw body ("totalParams"), minus
the ``signature`` parameter itself, so it is checked on the exact bytes the client sent rather
than on re-encoded parameters.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import Enum

from exchange_sim import errors
from exchange_sim.accounts import Account, AccountStore

DEFAULT_RECV_WINDOW = 5000
MAX_RECV_WINDOW = 60_000
FUTURE_TOLERANCE_MS = 1000


class Need(Enum):
    """Permission a signed endpoint requires."""

    READ = "read"
    TRADE = "trade"


@dataclass(frozen=True)
class SignedRequest:
    """The parts of an HTTP request that authentication looks at."""

    api_key: str | None
    raw_query: str
    raw_body: str
    params: dict[str, str]
    remote: str


def sign(secret: str, payload: str) -> str:
    """Hex HMAC-SHA256 of ``payload`` (what clients put in ``signature``)."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def _strip_signature(raw: str) -> tuple[str, str | None]:
    kept: list[str] = []
    signature: str | None = None
    for part in raw.split("&") if raw else []:
        if part.startswith("signature="):
            signature = part[len("signature=") :]
        else:
            kept.append(part)
    return "&".join(kept), signature


def signed_payload(raw_query: str, raw_body: str) -> tuple[str, str | None]:
    """(totalParams without the signature, the signature sent) of a request."""
    query, sig_q = _strip_signature(raw_query)
    body, sig_b = _strip_signature(raw_body)
    return query + body, sig_q or sig_b


def _int_param(params: dict[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise errors.mandatory(name) from exc


def check_timestamp(params: dict[str, str], now_ms: int) -> None:
    """Binance's rule: ``timestamp < now + 1000 and now - timestamp <= recvWindow``."""
    timestamp = _int_param(params, "timestamp")
    if timestamp is None:
        raise errors.mandatory("timestamp")
    recv_window = _int_param(params, "recvWindow")
    if recv_window is None:
        recv_window = DEFAULT_RECV_WINDOW
    if recv_window > MAX_RECV_WINDOW or recv_window <= 0:
        raise errors.bad_recv_window()
    if timestamp >= now_ms + FUTURE_TOLERANCE_MS:
        raise errors.future_timestamp()
    if now_ms - timestamp > recv_window:
        raise errors.stale_timestamp()


def authenticate(accounts: AccountStore, req: SignedRequest, now_ms: int, need: Need) -> Account:
    """Resolve and verify the caller of a SIGNED endpoint, or raise the Binance error."""
    if not req.api_key:
        raise errors.bad_api_key_format()
    account = accounts.get(req.api_key)
    if account is None:
        raise errors.rejected_key()
    perms = account.permissions
    if perms.ip_whitelist and req.remote not in perms.ip_whitelist:
        raise errors.rejected_key()
    payload, signature = signed_payload(req.raw_query, req.raw_body)
    if not signature:
        raise errors.mandatory("signature")
    expected = sign(account.api_secret, payload)
    if not hmac.compare_digest(expected, signature.lower()):
        raise errors.bad_signature()
    check_timestamp(req.params, now_ms)
    allowed = perms.can_trade if need is Need.TRADE else perms.can_read
    if not allowed:
        raise errors.rejected_key()
    return account
