"""Token text is unpadded base64url with one spelling per value."""

from __future__ import annotations

import base64

import pytest

from mesh import b64url


@pytest.mark.parametrize("data", [b"", b"\x00", b"ab", b"abc", bytes(range(256))])
def test_round_trip_without_padding(data: bytes) -> None:
    text = b64url.encode(data)
    assert "=" not in text and "+" not in text and "/" not in text
    assert b64url.decode(text) == data


def test_a_second_spelling_of_the_same_bytes_is_refused() -> None:
    # "YWJ" has the spare low bits of its last character set; the stdlib reads it as b"ab".
    assert base64.urlsafe_b64decode("YWJ=") == b"ab" == b64url.decode("YWI")
    with pytest.raises(ValueError):
        b64url.decode("YWJ")


@pytest.mark.parametrize(
    "text",
    [
        "YWJj!",  # a character outside the alphabet (the stdlib would skip it)
        "YW Jj",
        "YWJj==",  # padding is never written
        "Y",  # no length of bytes encodes to one character
        "YWJj+/",  # standard, not URL-safe, base64
    ],
)
def test_text_outside_the_form_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        b64url.decode(text)
