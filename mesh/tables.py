"""Tables the kit owns: API keys, the audit log and idempotency records."""

from __future__ import annotations

import sqlalchemy as sa

from mesh.db import FixedBytes, UtcDateTime, metadata, serial_id

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("secret_hash", FixedBytes(32), nullable=False),
    sa.Column("scopes", sa.String(128), nullable=False),
    sa.Column("create_time", UtcDateTime(), nullable=False),
    sa.Column("expire_time", UtcDateTime(), nullable=True),
    sa.Column("revoke_time", UtcDateTime(), nullable=True),
    sa.Column("last_used_time", UtcDateTime(), nullable=True),
    # Token-bucket rate in requests/s; null means the server default.
    sa.Column("rate_limit_per_s", sa.Integer(), nullable=True),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    serial_id("seq"),
    sa.Column("time", UtcDateTime(), nullable=False),
    sa.Column("actor_key_id", sa.String(32), nullable=True),
    sa.Column("principal", sa.String(64), nullable=True),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("resource", sa.String(128), nullable=False),
    sa.Column("detail", sa.JSON(), nullable=False),
    # SHA-256 over the previous row's hash and this row's content: editing any row breaks
    # every link after it.
    sa.Column("prev_hash", FixedBytes(32), nullable=False),
    sa.Column("row_hash", FixedBytes(32), nullable=False),
    # An action is appended once per resource where the writer asks so (record_once).
    sa.Index("ix_audit_log_resource_action", "resource", "action"),
)

# One row (id 1): the chain head. Every append first UPDATEs it, which takes a row lock on
# MariaDB/MySQL and the write lock on SQLite, so appends are serialised and the chain cannot
# fork, and the head's hash is read under that lock in the mutation's own transaction.
audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger(), nullable=False),
    sa.Column("row_hash", FixedBytes(32), nullable=False),
)

idempotency_records = sa.Table(
    "idempotency_records",
    metadata,
    serial_id(),
    # Scoped to the caller, the API key and the acting principal: two callers never share a
    # record. The principal is only a keyed hash (mesh/idempotency_seal.py), never plaintext.
    sa.Column("api_key_id", sa.String(32), nullable=False),
    sa.Column("principal_hash", FixedBytes(32), nullable=False),
    sa.Column("idempotency_key", sa.String(255), nullable=False),
    sa.Column("method", sa.String(255), nullable=False),
    # HMAC over key, principal, method and request bytes.
    sa.Column("request_hash", FixedBytes(32), nullable=False),
    sa.Column("status_code", sa.Integer(), nullable=True),
    # The answer, sealed with AES-GCM: it may carry bearer secrets (dashboard tokens).
    sa.Column(
        "response",
        sa.LargeBinary().with_variant(sa.dialects.mysql.MEDIUMBLOB(), "mysql"),
        nullable=True,
    ),
    sa.Column("create_time", UtcDateTime(), nullable=False),
    sa.Column("expire_time", UtcDateTime(), nullable=False, index=True),
    sa.UniqueConstraint("api_key_id", "principal_hash", "idempotency_key"),
)
