"""Idempotency records: one execution per key, identical outcomes, reuse refused."""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta

import pytest

from mesh.errors import InvalidArgument
from mesh.idempotency import IdempotencyStore, Outcome, check_key, request_fingerprint


@pytest.fixture
def store(engine) -> IdempotencyStore:  # type: ignore[no-untyped-def]
    return IdempotencyStore(engine, lease=timedelta(milliseconds=300), wait_timeout_s=10)


def fresh_key() -> str:
    return secrets.token_hex(8)


async def test_thirteen_concurrent_copies_execute_once_and_agree(store: IdempotencyStore) -> None:
    runs = 0

    async def execute() -> Outcome:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.05)
        return Outcome(0, b"response-" + secrets.token_bytes(4))

    key, fp = fresh_key(), request_fingerprint("/svc/M", b"body")
    outcomes = await asyncio.gather(
        *[
            store.run(api_key_id="k1", key=key, method="/svc/M", fingerprint=fp, execute=execute)
            for _ in range(13)
        ]
    )
    assert runs == 1
    assert len(set(outcomes)) == 1


async def test_errors_are_recorded_and_replayed(store: IdempotencyStore) -> None:
    key, fp = fresh_key(), request_fingerprint("/svc/M", b"x")

    async def refuse() -> Outcome:
        return Outcome(9, b"status-bytes")

    first = await store.run(
        api_key_id="k1", key=key, method="/svc/M", fingerprint=fp, execute=refuse
    )
    again = await store.run(
        api_key_id="k1", key=key, method="/svc/M", fingerprint=fp, execute=refuse
    )
    assert first == again == Outcome(9, b"status-bytes")


async def test_the_same_key_with_another_request_is_refused(store: IdempotencyStore) -> None:
    key = fresh_key()

    async def ok() -> Outcome:
        return Outcome(0, b"ok")

    await store.run(
        api_key_id="k1",
        key=key,
        method="/svc/M",
        fingerprint=request_fingerprint("/svc/M", b"a"),
        execute=ok,
    )
    with pytest.raises(InvalidArgument) as caught:
        await store.run(
            api_key_id="k1",
            key=key,
            method="/svc/M",
            fingerprint=request_fingerprint("/svc/M", b"b"),
            execute=ok,
        )
    assert caught.value.reason == "IDEMPOTENCY_KEY_REUSED"


async def test_keys_are_scoped_to_the_api_key(store: IdempotencyStore) -> None:
    key, fp = fresh_key(), request_fingerprint("/svc/M", b"a")
    calls = 0

    async def ok() -> Outcome:
        nonlocal calls
        calls += 1
        return Outcome(0, str(calls).encode())

    one = await store.run(api_key_id="k1", key=key, method="/svc/M", fingerprint=fp, execute=ok)
    two = await store.run(api_key_id="k2", key=key, method="/svc/M", fingerprint=fp, execute=ok)
    assert (one.payload, two.payload) == (b"1", b"2")


async def test_an_unexpected_failure_releases_the_key(store: IdempotencyStore) -> None:
    key, fp = fresh_key(), request_fingerprint("/svc/M", b"a")

    async def crash() -> Outcome:
        raise RuntimeError("boom")

    async def ok() -> Outcome:
        return Outcome(0, b"ok")

    with pytest.raises(RuntimeError):
        await store.run(api_key_id="k1", key=key, method="/svc/M", fingerprint=fp, execute=crash)
    assert (
        await store.run(api_key_id="k1", key=key, method="/svc/M", fingerprint=fp, execute=ok)
    ).payload == b"ok"


async def test_a_claim_abandoned_by_a_dead_process_is_taken_over(store: IdempotencyStore) -> None:
    key, fp = fresh_key(), request_fingerprint("/svc/M", b"a")
    claimed = await store._claim("k1", key, "/svc/M", fp)  # a process claims, then dies
    assert claimed is not None

    async def ok() -> Outcome:
        return Outcome(0, b"after takeover")

    outcome = await store.run(api_key_id="k1", key=key, method="/svc/M", fingerprint=fp, execute=ok)
    assert outcome.payload == b"after takeover"


@pytest.mark.parametrize("key", ["", "x" * 256, "line\nbreak"])
def test_malformed_keys_are_refused(key: str) -> None:
    with pytest.raises(InvalidArgument):
        check_key(key)


async def test_an_expired_record_frees_its_key(engine) -> None:  # type: ignore[no-untyped-def]
    short = IdempotencyStore(engine, ttl=timedelta(milliseconds=50))
    key, fp = fresh_key(), request_fingerprint("/svc/M", b"a")
    runs = 0

    async def ok() -> Outcome:
        nonlocal runs
        runs += 1
        return Outcome(0, str(runs).encode())

    assert (
        await short.run(api_key_id="k1", key=key, method="/svc/M", fingerprint=fp, execute=ok)
    ).payload == b"1"
    await asyncio.sleep(0.1)
    other = request_fingerprint("/svc/M", b"another body, allowed once the key expired")
    assert (
        await short.run(api_key_id="k1", key=key, method="/svc/M", fingerprint=other, execute=ok)
    ).payload == b"2"


async def test_copies_reaching_two_processes_still_execute_once(engine) -> None:  # type: ignore[no-untyped-def]
    # Two stores stand for two service processes: they share only the database.
    first, second = IdempotencyStore(engine), IdempotencyStore(engine)
    runs = 0

    async def execute() -> Outcome:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.05)
        return Outcome(0, b"once")

    key, fp = fresh_key(), request_fingerprint("/svc/M", b"body")
    copies = [
        (first if i % 2 else second).run(
            api_key_id="k1", key=key, method="/svc/M", fingerprint=fp, execute=execute
        )
        for i in range(13)
    ]
    outcomes = await asyncio.gather(*copies)
    assert runs == 1 and set(outcomes) == {Outcome(0, b"once")}
