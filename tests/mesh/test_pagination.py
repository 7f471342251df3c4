"""Page tokens are opaque, round-trip, and a forged one is a clear INVALID_ARGUMENT."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from mesh.errors import InvalidArgument
from mesh.pagination import (
    decode_int_token,
    decode_token,
    encode_int_token,
    encode_token,
    next_page_token,
)


def test_tokens_round_trip() -> None:
    when = datetime(2026, 11, 24, 9, 0, 0, 123456, tzinfo=UTC)
    assert decode_token(encode_token(when, "bot_1")) == (when, "bot_1")
    assert decode_token("") is None


@pytest.mark.parametrize("token", ["not-base64!", "e30", "WyJ4IiwxXQ"])
def test_forged_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        decode_token(token)
    assert caught.value.metadata == {"field": "page_token"}


def test_a_next_token_exists_only_when_a_row_is_left_over() -> None:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [(when, "a"), (when, "b"), (when, "c")]
    assert next_page_token(rows[:2], 2, lambda r: r) == ""
    assert decode_token(next_page_token(rows, 2, lambda r: r)) == (when, "b")


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        "A" * 513,  # longer than any token we make
        b64(b"[" * 300 + b"]" * 300),  # nested JSON
        b64(b'["9999-12-31T23:59:59-23:59","bot_1"]'),  # past year 9999 in UTC
        b64(b'["0001-01-01T00:00:00+23:00","bot_1"]'),  # before year 1 in UTC
        b64(b'["2026-01-01T00:00:00+00:00","' + b"x" * 65 + b'"]'),  # an id longer than ids are
        b64(b'["2026-01-01T00:00:00+00:00",""]'),
        b64(b'["2026-01-01T00:00:00","bot_1"]'),  # no time zone
        b64(b'["2026-01-01T00:00:00+00:00","bot_1","extra"]'),
        b64(b'{"a":"2026-01-01T00:00:00+00:00","b":"x"}'),
        b64(b"\xff\xfe"),
        "e30=",  # padding is never part of our tokens
    ],
)
def test_malformed_or_oversize_tokens_are_invalid_page_tokens(token: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        decode_token(token)
    assert caught.value.reason == "INVALID_PAGE_TOKEN"
    assert caught.value.metadata == {"field": "page_token"}


def test_integer_cursors_round_trip_within_their_bounds() -> None:
    assert decode_int_token(encode_int_token(1_700_000_000_000), 0, 2**53) == 1_700_000_000_000
    for bad in (
        encode_int_token(2**53 + 1),
        encode_int_token(-1),
        b64(b"1e3"),
        b64(b"9" * 30),
        "!",
    ):
        with pytest.raises(InvalidArgument) as caught:
            decode_int_token(bad, 0, 2**53)
        assert caught.value.reason == "INVALID_PAGE_TOKEN"
