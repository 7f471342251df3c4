"""The gatherer: alone and at once when calls are few, together when many are in flight, and
never answered by a call that started before the ask."""

from __future__ import annotations

import asyncio

import pytest

from mesh.gather import Gatherer


class Source:
    """A batch read whose calls the test holds open and releases: each answers every key it
    was asked with (key, the call's number), and refuses keys starting with "none"."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.release = asyncio.Event()
        self.release.set()
        self.fail: Exception | None = None

    async def fetch(self, keys: list[str]) -> dict[str, tuple[str, int]]:
        self.batches.append(keys)
        number = len(self.batches)
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return {k: (k, number) for k in keys if not k.startswith("none")}


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_lone_ask_goes_at_once_and_alone() -> None:
    source = Source()
    gatherer = Gatherer(source.fetch, max_batch=10)
    assert await gatherer.get("a") == ("a", 1)
    assert await gatherer.get("none-b") is None  # left out of the answer
    assert source.batches == [["a"], ["none-b"]]


async def test_asks_made_while_calls_are_in_flight_go_together_in_the_next() -> None:
    source = Source()
    source.release.clear()
    gatherer = Gatherer(source.fetch, max_batch=10, max_in_flight=2)
    first = [asyncio.create_task(gatherer.get(k)) for k in ("a", "b")]
    await settle()
    later = [asyncio.create_task(gatherer.get(k)) for k in ("c", "d", "e")]
    await settle()
    assert source.batches == [["a"], ["b"]]  # two in flight; c, d, e wait
    source.release.set()
    answers = await asyncio.gather(*first, *later)
    assert source.batches == [["a"], ["b"], ["c", "d", "e"]]
    assert answers == [("a", 1), ("b", 2), ("c", 3), ("d", 3), ("e", 3)]
    assert (gatherer.asks, gatherer.calls) == (5, 3)


async def test_an_ask_is_never_answered_by_a_call_that_started_before_it() -> None:
    source = Source()
    source.release.clear()
    gatherer = Gatherer(source.fetch, max_batch=10)
    early = asyncio.create_task(gatherer.get("a"))
    await settle()
    again = asyncio.create_task(gatherer.get("a"))  # the same key, asked during that call
    await settle()
    source.release.set()
    assert await early == ("a", 1)
    assert await again == ("a", 2)


async def test_the_same_key_asked_twice_before_its_call_shares_the_answer() -> None:
    source = Source()
    source.release.clear()
    gatherer = Gatherer(source.fetch, max_batch=10)
    busy = asyncio.create_task(gatherer.get("x"))
    await settle()
    twins = [asyncio.create_task(gatherer.get("a")) for _ in range(3)]
    await settle()
    source.release.set()
    await busy
    assert await asyncio.gather(*twins) == [("a", 2)] * 3
    assert source.batches == [["x"], ["a"]]


async def test_a_call_carries_at_most_max_batch_keys() -> None:
    source = Source()
    source.release.clear()
    gatherer = Gatherer(source.fetch, max_batch=2)
    asks = [asyncio.create_task(gatherer.get(k)) for k in "abcde"]
    await settle()
    source.release.set()
    await asyncio.gather(*asks)
    assert source.batches == [["a"], ["b", "c"], ["d", "e"]]


async def test_a_failed_call_fails_every_ask_it_carried_and_the_next_call_is_new() -> None:
    source = Source()
    source.release.clear()
    gatherer = Gatherer(source.fetch, max_batch=10)
    busy = asyncio.create_task(gatherer.get("x"))
    await settle()
    carried = [asyncio.create_task(gatherer.get(k)) for k in ("a", "b")]
    await settle()
    source.fail = ConnectionError("the callee is down")
    source.release.set()
    for task in (busy, *carried):
        with pytest.raises(ConnectionError):
            await task
    source.fail = None
    assert await gatherer.get("a") == ("a", 3)


async def test_a_caller_that_gives_up_leaves_the_others_their_answer() -> None:
    source = Source()
    source.release.clear()
    gatherer = Gatherer(source.fetch, max_batch=10)
    busy = asyncio.create_task(gatherer.get("x"))
    await settle()
    quitter = asyncio.create_task(gatherer.get("a"))
    stayer = asyncio.create_task(gatherer.get("a"))
    await settle()
    quitter.cancel()
    source.release.set()
    assert await stayer == ("a", 2)
    assert await busy == ("x", 1)
    with pytest.raises(asyncio.CancelledError):
        await quitter
