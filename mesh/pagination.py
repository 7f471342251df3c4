"""Opaque page tokens for keyset pagination over (create_time, id), newest first.

A token is the last row's sort key, base64url-encoded. Keyset pagination keeps pages stable
while rows are added and costs the same on page 1,000 as on page 1.

A token is input like any other: anything that is not a token this module made (malformed,
oversize, an id longer than ids are, a time that does not fit) is INVALID_ARGUMENT with
reason INVALID_PAGE_TOKEN, before any store sees it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from mesh import b64url
from mesh.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 20
# The longest token accepted: the protos allow page_token up to 512 characters.
MAX_TOKEN_CHARS = 512
MAX_ROW_ID_CHARS = 64
T = TypeVar("T")


def invalid_token() -> InvalidArgument:
    return InvalidArgument.for_field(
        "page_token", "is not a token from a previous page", reason="INVALID_PAGE_TOKEN"
    )


def page_size(requested: int, default: int = DEFAULT_PAGE_SIZE) -> int:
    return requested or default


def encode_token(create_time: datetime, row_id: str) -> str:
    raw = json.dumps([create_time.isoformat(), row_id], separators=(",", ":")).encode()
    return b64url.encode(raw)


def decode_token(token: str) -> tuple[datetime, str] | None:
    """The sort key a token carries; None for no token (the first page)."""
    if not token:
        return None
    try:
        key = json.loads(_unbase64(token))
        if not (isinstance(key, list) and len(key) == 2 and all(isinstance(k, str) for k in key)):
            raise ValueError
        when, row_id = key
        parsed = datetime.fromisoformat(when)
        if not 0 < len(row_id) <= MAX_ROW_ID_CHARS or parsed.tzinfo is None:
            raise ValueError
        return parsed.astimezone(UTC), row_id
    except (ValueError, TypeError, UnicodeDecodeError, OverflowError, RecursionError):
        raise invalid_token() from None


def encode_int_token(value: int) -> str:
    return b64url.encode(str(value).encode())


def decode_int_token(token: str, lo: int, hi: int) -> int:
    """An integer cursor (e.g. a time in ms) made by encode_int_token, within [lo, hi]."""
    try:
        text = _unbase64(token).decode("ascii")
        if not text.isdigit() or len(text) > 20 or not lo <= int(text) <= hi:
            raise ValueError
        return int(text)
    except (ValueError, UnicodeDecodeError):
        raise invalid_token() from None


def _unbase64(token: str) -> bytes:
    if not 0 < len(token) <= MAX_TOKEN_CHARS:
        raise ValueError("not a page token")
    return b64url.decode(token)


def next_page_token(rows: Sequence[T], size: int, key: Callable[[T], tuple[datetime, str]]) -> str:
    """Given up to size+1 rows fetched for a page of `size`, the token of the next page."""
    if len(rows) <= size:
        return ""
    return encode_token(*key(rows[size - 1]))
