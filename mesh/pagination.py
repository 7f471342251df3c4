"""Opaque page tokens for keyset pagination over (create_time, id), newest first.

A token is the last row's sort key, base64url-encoded. Keyset pagination keeps pages stable
while rows are added and costs the same on page 1,000 as on page 1.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from mesh.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 20
T = TypeVar("T")


def page_size(requested: int, default: int = DEFAULT_PAGE_SIZE) -> int:
    return requested or default


def encode_token(create_time: datetime, row_id: str) -> str:
    raw = json.dumps([create_time.isoformat(), row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> tuple[datetime, str] | None:
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        when, row_id = json.loads(raw)
        parsed = datetime.fromisoformat(when)
        if not isinstance(row_id, str) or parsed.tzinfo is None:
            raise ValueError
        return parsed.astimezone(UTC), row_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidArgument.for_field(
            "page_token", "is not a token from a previous page", reason="INVALID_PAGE_TOKEN"
        ) from None


def next_page_token(rows: Sequence[T], size: int, key: Callable[[T], tuple[datetime, str]]) -> str:
    """Given up to size+1 rows fetched for a page of `size`, the token of the next page."""
    if len(rows) <= size:
        return ""
    return encode_token(*key(rows[size - 1]))
