"""A bounded queue of size one where the latest value wins: a slow reader is conflated to
the newest price instead of growing memory, and never blocks the writer. The value is
whatever the hub shares between streams (a frame of bytes), so a slot holds a reference,
never a copy."""

from __future__ import annotations

from typing import Generic, TypeVar

from trading_svc.wakeup import Wakeup

T = TypeVar("T")


class LatestSlot(Generic[T]):
    __slots__ = ("_value", "_wakeup", "conflated")

    def __init__(self) -> None:
        self._value: T | None = None
        self._wakeup = Wakeup()
        self.conflated = 0  # values overwritten before they were read

    def put(self, value: T) -> None:
        if self._value is not None:
            self.conflated += 1
        self._value = value
        self._wakeup.wake()

    def qsize(self) -> int:
        return 0 if self._value is None else 1

    async def get(self, wait_s: float) -> T | None:
        """The newest value, or None when nothing came within `wait_s` seconds."""
        if self._value is None:
            await self._wakeup.wait(wait_s)
            if self._value is None:
                return None
        value, self._value = self._value, None
        self._wakeup.clear()
        return value
