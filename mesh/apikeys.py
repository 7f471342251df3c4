"""API keys: `bm_<key_id>_<secret>`. Only an HMAC-SHA256 of the secret under a server pepper is
stored, so a database leak reveals no usable key, and comparison is in constant time."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

_PREFIX = "bm"


@dataclass(frozen=True)
class ParsedKey:
    key_id: str
    secret: str


@dataclass(frozen=True)
class ApiKeyRecord:
    key_id: str
    name: str
    secret_hash: bytes
    scopes: frozenset[str]
    create_time: datetime
    expire_time: datetime | None
    revoke_time: datetime | None
    last_used_time: datetime | None
    # Token-bucket rate in requests/s; None means the server default.
    rate_limit_per_s: int | None = None

    def usable_at(self, now: datetime) -> bool:
        if self.revoke_time is not None:
            return False
        return self.expire_time is None or now < self.expire_time


def new_key() -> tuple[ParsedKey, str]:
    """A fresh key id (12 hex chars) and a 256-bit secret, and the full key text."""
    parsed = ParsedKey(secrets.token_hex(6), secrets.token_urlsafe(32).replace("_", "-"))
    return parsed, f"{_PREFIX}_{parsed.key_id}_{parsed.secret}"


def parse_key(text: str) -> ParsedKey | None:
    """Splits a presented key; None when it is not shaped like one of ours."""
    parts = text.split("_", 2)
    if len(parts) != 3 or parts[0] != _PREFIX or not parts[1] or len(parts[2]) < 22:
        return None
    if not parts[1].isalnum() or len(parts[1]) > 32:
        return None
    return ParsedKey(parts[1], parts[2])


def hash_secret(pepper: str, secret: str) -> bytes:
    # hmac.digest: OpenSSL's one-shot HMAC, a third of the cost of building an hmac object.
    return hmac.digest(pepper.encode(), secret.encode(), "sha256")


def secret_matches(pepper: str, secret: str, stored: bytes) -> bool:
    return hmac.compare_digest(hash_secret(pepper, secret), stored)
