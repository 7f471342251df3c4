"""BOTMESH_CORS_ORIGINS and BOTMESH_ENVIRONMENT: exact origins, `*` as one DNS label or the
port, the environment's default when unset, `none`, and refusals of anything that is not an
origin (a lone `*` above all)."""

from __future__ import annotations

import re

import pytest

from mesh import origins

CANISTER = "https://abcde-aaaaa-aaaaa-aaaaa-cai.icp0.io"


def test_unset_is_localhost_in_development_and_nothing_in_production() -> None:
    assert origins.parse("", "development") == origins.DEVELOPMENT_ORIGINS
    assert origins.parse(" , ", "development") == origins.DEVELOPMENT_ORIGINS
    assert origins.parse("", "production") == ()


def test_none_names_no_origin_in_any_environment() -> None:
    assert origins.parse("none", "development") == ()
    assert origins.parse("none", "production") == ()


def test_a_list_is_kept_in_order_without_repeats() -> None:
    text = f"{CANISTER}, https://*.icp0.io,{CANISTER},https://app.example.com:8443"
    assert origins.parse(text, "production") == (
        CANISTER,
        "https://*.icp0.io",
        "https://app.example.com:8443",
    )


@pytest.mark.parametrize(
    "entry",
    [
        "*",
        "https://*",
        "https://*.*:443",
        "icp0.io",
        "https://icp0.io/",
        "https://icp0.io/path",
        "ftp://icp0.io",
        "https://ICP0.io",
        "https://*.icp0.io:*/x",
        "https://exa mple.com",
        "https://a..b",
        "none,https://icp0.io",
    ],
)
def test_anything_but_an_origin_is_refused(entry: str) -> None:
    with pytest.raises(ValueError, match="BOTMESH_CORS_ORIGINS"):
        origins.parse(entry, "production")


@pytest.mark.parametrize(
    ("entry", "origin", "expected"),
    [
        (CANISTER, CANISTER, True),
        (CANISTER, CANISTER + ":443", False),
        ("https://*.icp0.io", CANISTER, True),
        ("https://*.icp0.io", "https://a.b.icp0.io", False),
        ("https://*.icp0.io", "https://icp0.io", False),
        ("https://*.icp0.io", "https://xicp0.io", False),
        ("https://*.icp0.io", "http://abc.icp0.io", False),
        ("https://*.icp0.io", "https://abc.icp0.io.evil.example", False),
        ("http://localhost:*", "http://localhost:5173", True),
        ("http://localhost:*", "http://localhost", False),
        ("http://localhost:*", "http://localhost:5173.evil.example", False),
        ("http://[::1]:*", "http://[::1]:8080", True),
        ("http://127.0.0.1:*", "http://127.0.0.1:8080", True),
        ("http://127.0.0.1:*", "http://127.0.0.12:8080", False),
    ],
)
def test_a_pattern_matches_one_label_or_the_port(entry: str, origin: str, expected: bool) -> None:
    assert origins.allowed((entry,), origin) is expected


def test_a_pattern_is_one_whole_string_regex_envoy_can_run() -> None:
    # Envoy's RE2 refuses a program over 100: patterns stay plain character classes.
    pattern = origins.regex("https://*.raw.icp0.io")
    assert pattern == r"https://[a-z0-9-]+\.raw\.icp0\.io"
    assert re.fullmatch(pattern, "https://qoctq-giaaa-aaaaa-aaaea-cai.raw.icp0.io")


@pytest.mark.parametrize("text", ["production", " Production ", "development"])
def test_the_environment_is_development_or_production(text: str) -> None:
    assert origins.environment(text) == text.strip().lower()


def test_another_environment_is_refused() -> None:
    with pytest.raises(ValueError, match="BOTMESH_ENVIRONMENT"):
        origins.environment("staging")
