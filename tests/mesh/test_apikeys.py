"""API keys: shape, hashing with a pepper, constant-time comparison."""

from __future__ import annotations

from mesh.apikeys import hash_secret, new_key, parse_key, secret_matches


def test_a_new_key_parses_back_to_its_parts() -> None:
    parsed, text = new_key()
    assert text.startswith(f"bm_{parsed.key_id}_")
    assert parse_key(text) == parsed
    assert len(parsed.secret) >= 32  # 256 random bits, base64url


def test_only_the_peppered_hash_matches() -> None:
    parsed, _ = new_key()
    stored = hash_secret("pepper-1", parsed.secret)
    assert parsed.secret.encode() not in stored
    assert secret_matches("pepper-1", parsed.secret, stored)
    assert not secret_matches("pepper-2", parsed.secret, stored)
    assert not secret_matches("pepper-1", parsed.secret + "x", stored)


def test_malformed_keys_do_not_parse() -> None:
    for text in [
        "",
        "bm_",
        "bm_abc",
        "xx_abc_" + "s" * 40,
        "bm__" + "s" * 40,
        "bm_a!b_" + "s" * 40,
        "bm_abc_short",
    ]:
        assert parse_key(text) is None
