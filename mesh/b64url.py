"""Unpadded base64url, the one text form of our opaque tokens (page tokens, dashboard tokens).

Decoding is strict: only the URL-safe alphabet, and only the canonical text `encode` writes.
The stdlib decoder skips stray characters and ignores a last character's spare bits, so one
value would otherwise have many spellings, and a token's text is used as a key (counters).
"""

from __future__ import annotations

import base64
import binascii
import re

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")


def encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def decode(text: str) -> bytes:
    """The bytes `text` encodes; ValueError unless `text` is exactly what `encode` writes."""
    if not _ALPHABET.fullmatch(text):
        raise ValueError("not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error:
        raise ValueError("not base64url") from None
    if encode(data) != text:
        raise ValueError("not canonical base64url")
    return data
