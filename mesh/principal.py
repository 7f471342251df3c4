"""ICP principals in textual form: base32 (RFC 4648, lower case, no padding) of a CRC32
checksum followed by the raw principal bytes, grouped by dashes in fives. Verifying the
checksum rejects typos and forged-looking ids before they reach a query."""

from __future__ import annotations

import base64
import binascii

from mesh.errors import InvalidArgument

_MAX_RAW = 29


def parse_principal(text: str, field: str = "x-principal-id") -> bytes:
    """The principal's raw bytes, or InvalidArgument naming the field."""
    if not text or len(text) > 63 or text != text.lower():
        raise InvalidArgument.for_field(field, "not an ICP principal", reason="INVALID_PRINCIPAL")
    compact = text.replace("-", "")
    groups = text.split("-")
    if any(len(g) != 5 for g in groups[:-1]) or not (0 < len(groups[-1]) <= 5):
        raise InvalidArgument.for_field(field, "not an ICP principal", reason="INVALID_PRINCIPAL")
    try:
        data = base64.b32decode(compact.upper() + "=" * (-len(compact) % 8))
    except (binascii.Error, ValueError):
        raise InvalidArgument.for_field(
            field, "not an ICP principal", reason="INVALID_PRINCIPAL"
        ) from None
    if len(data) < 4 or len(data) - 4 > _MAX_RAW:
        raise InvalidArgument.for_field(field, "not an ICP principal", reason="INVALID_PRINCIPAL")
    checksum, raw = data[:4], data[4:]
    if int.from_bytes(checksum, "big") != binascii.crc32(raw):
        raise InvalidArgument.for_field(
            field, "principal checksum mismatch", reason="INVALID_PRINCIPAL"
        )
    if format_principal(raw) != text:
        raise InvalidArgument.for_field(
            field, "principal is not in canonical form", reason="INVALID_PRINCIPAL"
        )
    return raw


def format_principal(raw: bytes) -> str:
    data = binascii.crc32(raw).to_bytes(4, "big") + raw
    text = base64.b32encode(data).decode().lower().rstrip("=")
    return "-".join(text[i : i + 5] for i in range(0, len(text), 5))
