"""Dashboard tokens: short-lived, read-only bearer tokens bound to one principal.

A browser EventSource cannot set headers, so dashboards carry this token instead of an API
key (which must never reach a browser). The token is self-contained, `bmd_<payload>.<mac>`
with an HMAC-SHA256 over the payload, so every service can check it with the shared pepper
and no database read: streams are long-lived and many, and must not cost a lookup each.
A token cannot be revoked before it expires; that is why lifetimes are short (max one day).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

from mesh import b64url
from mesh.errors import Unauthenticated
from mesh.principal import parse_principal

PREFIX = "bmd_"
DEFAULT_TTL_S = 900
MAX_TTL_S = 86400


def _key(pepper: str) -> bytes:
    # A key of its own, derived from the pepper, so a token MAC is never an API-key hash.
    return hmac.new(pepper.encode(), b"botmesh dashboard token v1", hashlib.sha256).digest()


def issue(pepper: str, principal: str, ttl_s: int, now: datetime) -> tuple[str, datetime]:
    """A token for `principal`, valid `ttl_s` seconds (0: the default); and its expiry."""
    ttl = ttl_s or DEFAULT_TTL_S
    if not 0 < ttl <= MAX_TTL_S:
        raise ValueError("ttl out of range")
    expires = (now + timedelta(seconds=ttl)).replace(microsecond=0)
    payload = b64url.encode(
        json.dumps(
            {"p": principal, "exp": int(expires.timestamp())}, separators=(",", ":")
        ).encode()
    )
    mac = b64url.encode(hmac.new(_key(pepper), payload.encode(), hashlib.sha256).digest())
    return f"{PREFIX}{payload}.{mac}", expires


def verify(pepper: str, token: str, now: datetime) -> str:
    """The principal a valid, unexpired token is bound to; Unauthenticated otherwise."""
    return claims(pepper, token, now)[0]


def token_id(token: str) -> str:
    """A stable name for a token that is not the token (for counters in Redis, logs)."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def claims(pepper: str, token: str, now: datetime) -> tuple[str, datetime]:
    """(principal, expiry) of a valid, unexpired token; Unauthenticated otherwise."""
    invalid = Unauthenticated("the access token is not valid", reason="ACCESS_TOKEN_INVALID")
    if not token.startswith(PREFIX) or token.count(".") != 1 or len(token) > 1024:
        raise invalid
    payload, mac = token[len(PREFIX) :].split(".")
    expected = hmac.new(_key(pepper), payload.encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(b64url.decode(mac), expected):
            raise invalid
        claims = json.loads(b64url.decode(payload))
        principal, exp = claims["p"], claims["exp"]
        if not isinstance(principal, str) or not isinstance(exp, int):
            raise invalid
    except (ValueError, KeyError, TypeError):
        raise invalid from None
    expires = datetime.fromtimestamp(exp, UTC)
    if expires <= now:
        raise expired()
    parse_principal(principal)
    return principal, expires


def expired() -> Unauthenticated:
    """What a caller gets for an expired token: at the start of a call, or when a stream it
    opened reaches the token's expiry."""
    return Unauthenticated("the access token has expired", reason="ACCESS_TOKEN_EXPIRED")
