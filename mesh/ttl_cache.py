"""A bounded, time-limited LRU map for process-local caches.

The rule it keeps: it never holds more than `max_entries` entries, and never returns one older
than `ttl_s`. When full, the least recently used entry goes first, so a flood of keys that
are each seen once pushes out only other flood keys, never the ones in steady use.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Generic, TypeVar

V = TypeVar("V")


class TtlLru(Generic[V]):
    def __init__(self, *, ttl_s: float, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self._ttl = ttl_s
        self._max = max_entries
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()

    def get(self, key: str) -> tuple[bool, V | None]:
        """(hit, value): a hit refreshes the entry's recency, not its age."""
        entry = self._entries.get(key)
        if entry is None:
            return False, None
        if time.monotonic() - entry[0] >= self._ttl:
            del self._entries[key]
            return False, None
        self._entries.move_to_end(key)
        return True, entry[1]

    def put(self, key: str, value: V) -> None:
        self._entries[key] = (time.monotonic(), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def discard(self, key: str) -> None:
        self._entries.pop(key, None)

    def __contains__(self, key: str) -> bool:
        return self.get(key)[0]

    def __len__(self) -> int:
        return len(self._entries)
