"""The bounded TTL LRU behind the authenticator's caches: never larger than its bound, never
answers past its TTL, and evicts the least recently used entry first."""

from __future__ import annotations

import time

import pytest

from mesh.ttl_cache import TtlLru


def test_the_least_recently_used_entry_goes_first() -> None:
    cache: TtlLru[int] = TtlLru(ttl_s=60, max_entries=3)
    for n, key in enumerate("abc"):
        cache.put(key, n)
    assert cache.get("a") == (True, 0)  # "a" is now the most recent
    cache.put("d", 3)
    assert "b" not in cache and "a" in cache and "c" in cache and "d" in cache
    assert len(cache) == 3


def test_entries_expire_after_the_ttl() -> None:
    cache: TtlLru[str] = TtlLru(ttl_s=0.05, max_entries=10)
    cache.put("k", "v")
    assert cache.get("k") == (True, "v")
    time.sleep(0.06)
    assert cache.get("k") == (False, None) and len(cache) == 0


def test_a_cached_none_is_a_hit() -> None:
    cache: TtlLru[None] = TtlLru(ttl_s=60, max_entries=2)
    cache.put("unknown", None)
    assert cache.get("unknown") == (True, None)
    assert cache.get("never") == (False, None)


def test_the_bound_must_be_positive() -> None:
    with pytest.raises(ValueError):
        TtlLru(ttl_s=1, max_entries=0)
