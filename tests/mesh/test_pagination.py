"""Page tokens are opaque, round-trip, and a forged one is a clear INVALID_ARGUMENT."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mesh.errors import InvalidArgument
from mesh.pagination import decode_token, encode_token, next_page_token


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
