"""What the demo prints is safe to paste: secrets are redacted before printing, wherever they
sit in a body or a URL, and ordinary values are left as they are."""

from __future__ import annotations

from cli.demo_http import redact, redact_url, redact_value, shorten


def test_an_api_key_shows_its_id_only() -> None:
    assert redact_value("bm_64b735e9421c_yq-jC83VeOiG1GT4XwFa8awqdmFkAQqIXy1Eh5uocwU") == (
        "bm_64b735e9421c_…"
    )


def test_other_secrets_show_at_most_their_last_four_characters() -> None:
    assert redact_value("a15e6b7982d656251a6a0096c3dc2fa0") == "…2fa0"
    assert redact_value("short") == "…"


def test_secret_fields_are_redacted_at_any_depth_and_nothing_else() -> None:
    body = {
        "exchange": "binance",
        "api_key": "0123456789abcdef0123",
        "api_secret": "fedcba9876543210fedc",
        "nested": [{"token": "t" * 40, "label": "main"}],
    }
    assert redact(body) == {
        "exchange": "binance",
        "api_key": "…0123",
        "api_secret": "…fedc",
        "nested": [{"token": "…tttt", "label": "main"}],
    }
    assert body["api_secret"] == "fedcba9876543210fedc"  # the caller's copy is untouched


def test_access_tokens_in_urls_are_redacted_and_other_parameters_kept() -> None:
    url = "/v1/subscriptions/sub_1/events:stream?access_token=" + "x" * 30 + "&after=0"
    assert redact_url(url) == "/v1/subscriptions/sub_1/events:stream?access_token=…xxxx&after=0"
    assert redact_url("/v1/bots?page_size=5") == "/v1/bots?page_size=5"


def test_long_answers_are_cut_for_the_terminal() -> None:
    text = shorten({"items": ["x" * 50] * 40}, limit=100)
    assert len(text) == 100 and text.endswith("…")
    assert shorten({"a": 1}) == '{"a":1}'
