"""Issuing, listing and revoking API keys: used by AdminService and by `botmesh up` when it
creates the first development admin key.

Issuing and revoking are mutations, so each appends an audit row in its own transaction
(who may act is exactly what an auditor asks first). The row names the key id, name and
scopes, never the key or its hash."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from mesh.apikey_store import ApiKeyStore
from mesh.apikeys import ApiKeyRecord, hash_secret, new_key
from mesh.audit import AuditLog, Event
from mesh.db import utcnow
from mesh.errors import InvalidArgument, NotFound
from mesh.pagination import decode_token, next_page_token, page_size
from mesh.scopes import SCOPES


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
    event = Event(
        "apikey.create",
        record.key_id,
        {
            "name": name,
            "scopes": ",".join(sorted(wanted)),
            "expire_time": expire_time.isoformat() if expire_time else None,
            "rate_limit_per_s": record.rate_limit_per_s,
        },
    )
    await store.insert(record, in_txn=lambda conn: AuditLog(pepper).record(conn, event))
    return record, text


async def list_keys(
    store: ApiKeyStore, requested_size: int, token: str
) -> tuple[list[ApiKeyRecord], str]:
    size = page_size(requested_size)
    rows = await store.list(limit=size + 1, after=decode_token(token))
    return rows[:size], next_page_token(rows, size, lambda r: (r.create_time, r.key_id))


async def revoke_key(
    store: ApiKeyStore, key_id: str, *, audit: AuditLog | None = None
) -> ApiKeyRecord:
    """Revokes a key (again: a no-op). AdminService always passes `audit`; only tests that
    revoke directly in the database go without."""
    event = Event("apikey.revoke", key_id)
    in_txn = None if audit is None else (lambda conn: audit.record(conn, event))
    record = await store.revoke(key_id, utcnow(), in_txn=in_txn)
    if record is None:
        raise NotFound(f"API key {key_id} does not exist", reason="API_KEY_NOT_FOUND")
    return record
