"""ICP principals are parsed from text with their CRC32 checksum verified."""

from __future__ import annotations

import pytest

from mesh.errors import InvalidArgument
from mesh.principal import format_principal, parse_principal


@pytest.mark.parametrize(
    ("text", "raw"),
    [
        ("aaaaa-aa", b""),  # the management canister
        ("2vxsx-fae", b"\x04"),  # the anonymous principal
        ("rrkah-fqaaa-aaaaa-aaaaq-cai", bytes.fromhex("00000000000000010101")),
    ],
)
def test_known_principals_round_trip(text: str, raw: bytes) -> None:
    assert parse_principal(text) == raw
    assert format_principal(raw) == text


def test_a_self_authenticating_principal_round_trips() -> None:
    raw = bytes(range(28)) + b"\x02"
    assert parse_principal(format_principal(raw)) == raw


@pytest.mark.parametrize(
    "text",
    [
        "",
        "rrkah-fqaaa-aaaaa-aaaaq-cab",  # checksum no longer matches
        "RRKAH-FQAAA-AAAAA-AAAAQ-CAI",  # not canonical (upper case)
        "rrkahfqaaaaaaaaaaaaqcai",  # dashes missing
        "rrkah-fqaaa-aaaaa-aaaaq-ca1",  # '1' is not base32
        "a" * 70,
    ],
)
def test_malformed_principals_are_invalid_argument(text: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_principal(text)
    assert caught.value.reason == "INVALID_PRINCIPAL"
