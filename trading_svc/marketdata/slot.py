"""A bounded queue of size one where the latest value wins: a slow reader is conflated to
the newest price instead of growing memory, and never blocks the writer."""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    __slots__ = ("_event", "_value", "conflated")

    def __init__(self) -> None:
        self._value: T | None = None
        self._event = asyncio.Event()
        self.conflated = 0  # values overwritten before they were read

    def put(self, value: T) -> None:
        if self._value is not None:
            self.conflated += 1
        self._value = value
        self._event.set()

    def qsize(self) -> int:
        return 0 if self._value is None else 1

    async def get(self, wait_s: float) -> T | None:
        """The newest value, or None when nothing came within `wait_s` seconds."""
        if self._value is None:
            try:
                await asyncio.wait_for(self._event.wait(), wait_s)
            except TimeoutError:
                return None
        value, self._value = self._value, None
        self._event.clear()
        return value
