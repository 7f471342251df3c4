"""Issuing, listing and revoking API keys: used by AdminService and by `botmesh up` when it
creates the first development admin key."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from mesh.apikey_store import ApiKeyStore
from mesh.apikeys import SCOPES, ApiKeyRecord, hash_secret, new_key
from mesh.db import utcnow
from mesh.errors import InvalidArgument, NotFound
from mesh.pagination import decode_token, next_page_token, page_size


async def issue_key(
    store: ApiKeyStore,
    *,
    pepper: str,
    name: str,
    scopes: Iterable[str],
    expire_time: datetime | None = None,
    rate_limit_per_s: int | None = None,
) -> tuple[ApiKeyRecord, str]:
    """Creates a key; returns its record and the full key text, which is never stored."""
    wanted = frozenset(scopes)
    unknown = sorted(wanted - set(SCOPES))
    if not wanted or unknown:
        raise InvalidArgument.for_field(
            "scopes", f"must be some of {', '.join(SCOPES)}", reason="INVALID_SCOPE"
        )
    now = utcnow()
    if expire_time is not None and expire_time <= now:
        raise InvalidArgument.for_field("expire_time", "must be in the future")
    parsed, text = new_key()
    record = ApiKeyRecord(
        key_id=parsed.key_id,
        name=name,
        secret_hash=hash_secret(pepper, parsed.secret),
        scopes=wanted,
        create_time=now,
        expire_time=expire_time,
        revoke_time=None,
        last_used_time=None,
        rate_limit_per_s=rate_limit_per_s or None,
    )
    await store.insert(record)
    return record, text


async def list_keys(
    store: ApiKeyStore, requested_size: int, token: str
) -> tuple[list[ApiKeyRecord], str]:
    size = page_size(requested_size)
    rows = await store.list(limit=size + 1, after=decode_token(token))
    return rows[:size], next_page_token(rows, size, lambda r: (r.create_time, r.key_id))


async def revoke_key(store: ApiKeyStore, key_id: str) -> ApiKeyRecord:
    record = await store.revoke(key_id, utcnow())
    if record is None:
        raise NotFound(f"API key {key_id} does not exist", reason="API_KEY_NOT_FOUND")
    return record
