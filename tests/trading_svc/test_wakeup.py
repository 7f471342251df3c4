"""A stream's bounded wait for its next message: woken, timed out, wakes merged, and
nothing left behind by a cancelled waiter."""

from __future__ import annotations

import asyncio

import pytest

from trading_svc.wakeup import Wakeup


async def test_a_wake_ends_the_wait_with_true() -> None:
    wakeup = Wakeup()
    waiting = asyncio.create_task(wakeup.wait(30))
    await asyncio.sleep(0)
    wakeup.wake()
    assert await waiting is True


async def test_no_wake_ends_the_wait_with_false() -> None:
    assert await Wakeup().wait(0.05) is False
    assert await Wakeup().wait(0) is False


async def test_a_wake_before_the_wait_is_kept_once() -> None:
    wakeup = Wakeup()
    wakeup.wake()
    wakeup.wake()  # two wakes between waits are one
    assert await wakeup.wait(30) is True
    assert await wakeup.wait(0.01) is False


async def test_clear_forgets_a_wake_nobody_waited_for() -> None:
    wakeup = Wakeup()
    wakeup.wake()
    wakeup.clear()
    assert await wakeup.wait(0.01) is False


async def test_a_cancelled_waiter_leaves_nothing_behind() -> None:
    wakeup = Wakeup()
    waiting = asyncio.create_task(wakeup.wait(30))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    wakeup.wake()  # nobody waits: kept for the next wait, and no error
    assert await wakeup.wait(30) is True
