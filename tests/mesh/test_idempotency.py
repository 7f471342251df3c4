"""Idempotency records: one execution per caller and key, identical outcomes, reuse refused,
execution shielded from the request, transient outcomes released, nothing readable at rest."""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta

import pytest
import sqlalchemy as sa
from google.rpc import code_pb2

from mesh.errors import Internal, InvalidArgument, Unavailable
from mesh.idempotency import RELEASED_CODES, IdempotencyStore, Outcome, check_key
from mesh.idempotency_seal import RecordSeal
from mesh.tables import idempotency_records as records

SECRET = "test idempotency secret"
M = "/svc/M"


@pytest.fixture
def store(engine) -> IdempotencyStore:  # type: ignore[no-untyped-def]
    return IdempotencyStore(
        engine, secret=SECRET, lease=timedelta(milliseconds=300), wait_timeout_s=10
    )


def fresh_key() -> str:
    return secrets.token_hex(8)


class Counter:
    """An execute() that counts its runs and answers what it is told."""

    def __init__(self, *answers: Outcome, delay: float = 0.0) -> None:
        self.runs = 0
        self.finished = 0
        self._answers = answers or (Outcome(0, b"ok"),)
        self._delay = delay

    async def __call__(self) -> Outcome:
        self.runs += 1
        await asyncio.sleep(self._delay)
        self.finished += 1
        return self._answers[min(self.runs, len(self._answers)) - 1]


async def run(  # type: ignore[no-untyped-def]
    store: IdempotencyStore,
    key: str,
    execute,
    *,
    api_key_id: str = "k1",
    principal: str = "",
    request: bytes = b"body",
) -> Outcome:
    return await store.run(
        api_key_id=api_key_id,
        principal=principal,
        key=key,
        method=M,
        request=request,
        execute=execute,
    )


async def test_thirteen_concurrent_copies_execute_once_and_agree(store: IdempotencyStore) -> None:
    execute = Counter(Outcome(0, b"response-" + secrets.token_bytes(4)), delay=0.05)
    key = fresh_key()
    outcomes = await asyncio.gather(*[run(store, key, execute) for _ in range(13)])
    assert execute.runs == 1
    assert len(set(outcomes)) == 1


async def test_errors_are_recorded_and_replayed(store: IdempotencyStore) -> None:
    key = fresh_key()
    refuse = Counter(Outcome(code_pb2.NOT_FOUND, b"status-bytes"))
    first = await run(store, key, refuse)
    again = await run(store, key, refuse)
    assert first == again == Outcome(code_pb2.NOT_FOUND, b"status-bytes")
    assert refuse.runs == 1


async def test_the_same_key_with_another_request_is_refused(store: IdempotencyStore) -> None:
    key = fresh_key()
    await run(store, key, Counter(), request=b"a")
    with pytest.raises(InvalidArgument) as caught:
        await run(store, key, Counter(), request=b"b")
    assert caught.value.reason == "IDEMPOTENCY_KEY_REUSED"


async def test_keys_are_scoped_to_the_api_key(store: IdempotencyStore) -> None:
    key, execute = fresh_key(), Counter(Outcome(0, b"1"), Outcome(0, b"2"))
    one = await run(store, key, execute, api_key_id="k1")
    two = await run(store, key, execute, api_key_id="k2")
    assert (one.payload, two.payload) == (b"1", b"2")


async def test_keys_are_scoped_to_the_acting_principal(store: IdempotencyStore) -> None:
    key, execute = fresh_key(), Counter(Outcome(0, b"A's token"), Outcome(0, b"B's token"))
    a = await run(store, key, execute, principal="aaaaa-aa")
    b = await run(store, key, execute, principal="2vxsx-fae")
    assert (a.payload, b.payload) == (b"A's token", b"B's token")
    # Each replays its own answer, and only its own.
    assert (await run(store, key, Counter(), principal="2vxsx-fae")).payload == b"B's token"
    assert (await run(store, key, Counter(), principal="aaaaa-aa")).payload == b"A's token"
    assert (await run(store, key, Counter(Outcome(0, b"none")))).payload == b"none"


async def test_concurrent_copies_of_two_principals_never_share_an_outcome(
    store: IdempotencyStore,
) -> None:
    key = fresh_key()

    def answer_for(who: str) -> Counter:
        return Counter(Outcome(0, who.encode()), delay=0.05)

    executes = {"aaaaa-aa": answer_for("aaaaa-aa"), "2vxsx-fae": answer_for("2vxsx-fae")}
    calls = [run(store, key, executes[who], principal=who) for _ in range(7) for who in executes]
    outcomes = await asyncio.gather(*calls)
    assert [o.payload.decode() for o in outcomes] == [who for _ in range(7) for who in executes]
    assert {who: e.runs for who, e in executes.items()} == {"aaaaa-aa": 1, "2vxsx-fae": 1}


def test_the_fingerprint_covers_key_principal_method_and_bytes() -> None:
    seal = RecordSeal(SECRET)
    base = seal.fingerprint("k1", "aaaaa-aa", M, b"body")
    assert base == seal.fingerprint("k1", "aaaaa-aa", M, b"body")
    others = {
        seal.fingerprint("k2", "aaaaa-aa", M, b"body"),
        seal.fingerprint("k1", "2vxsx-fae", M, b"body"),
        seal.fingerprint("k1", "aaaaa-aa", "/svc/N", b"body"),
        seal.fingerprint("k1", "aaaaa-aa", M, b"bodz"),
        # Framing: moving bytes between parts is another request.
        seal.fingerprint("k1a", "aaaa-aa", M, b"body"),
        RecordSeal("another secret").fingerprint("k1", "aaaaa-aa", M, b"body"),
    }
    assert base not in others and len(others) == 6


async def test_at_rest_the_principal_is_hashed_and_the_answer_sealed(
    store: IdempotencyStore, engine
) -> None:  # type: ignore[no-untyped-def]
    key, principal = fresh_key(), "rrkah-fqaaa-aaaaa-aaaaq-cai"
    token = b"bmd_" + secrets.token_hex(24).encode()
    await run(store, key, Counter(Outcome(0, token)), principal=principal)
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(records).where(records.c.idempotency_key == key))).one()
    stored = b"".join(
        bytes(v) if isinstance(v, bytes | bytearray) else str(v).encode() for v in row
    )
    assert token not in stored and principal.encode() not in stored
    assert bytes(row.principal_hash) == RecordSeal(SECRET).principal_hash(principal)
    # The replay is the exact bytes that were sealed.
    assert (await run(store, key, Counter(), principal=principal)).payload == token


async def test_a_sealed_answer_moved_to_another_record_does_not_open(
    store: IdempotencyStore, engine
) -> None:  # type: ignore[no-untyped-def]
    theirs, mine = fresh_key(), fresh_key()
    await run(store, theirs, Counter(Outcome(0, b"their secret")), principal="aaaaa-aa")
    await run(store, mine, Counter(Outcome(0, b"mine")), principal="aaaaa-aa")
    async with engine.begin() as conn:
        sealed = (
            await conn.execute(
                sa.select(records.c.response).where(records.c.idempotency_key == theirs)
            )
        ).scalar_one()
        await conn.execute(
            records.update().where(records.c.idempotency_key == mine).values(response=sealed)
        )
    with pytest.raises(Internal) as caught:
        await run(store, mine, Counter(), principal="aaaaa-aa")
    assert caught.value.reason == "IDEMPOTENCY_RECORD_UNREADABLE"


async def test_a_canceled_request_does_not_cancel_execution(store: IdempotencyStore) -> None:
    key, execute = fresh_key(), Counter(Outcome(0, b"filled"), delay=0.3)
    first = asyncio.create_task(run(store, key, execute))
    await asyncio.sleep(0.05)
    first.cancel()  # the client gave up while the handler was running
    with pytest.raises(asyncio.CancelledError):
        await first
    retry = await run(store, key, execute)  # waits for the first execution, then shares it
    assert retry == Outcome(0, b"filled")
    assert (execute.runs, execute.finished) == (1, 1)


async def test_shutdown_drains_executions_whose_requests_are_gone(engine) -> None:  # type: ignore[no-untyped-def]
    stopping = IdempotencyStore(engine, secret=SECRET)
    key, execute = fresh_key(), Counter(Outcome(0, b"recorded"), delay=0.2)
    first = asyncio.create_task(run(stopping, key, execute))
    await asyncio.sleep(0.05)
    first.cancel()
    await stopping.drain(timeout_s=5)
    assert execute.finished == 1
    # Another process finds the outcome recorded, and does not execute.
    restarted = IdempotencyStore(engine, secret=SECRET)
    assert await run(restarted, key, execute) == Outcome(0, b"recorded")
    assert execute.runs == 1


async def test_a_retry_from_another_process_waits_for_the_shielded_execution(
    engine, store: IdempotencyStore
) -> None:  # type: ignore[no-untyped-def]
    other = IdempotencyStore(engine, secret=SECRET, wait_timeout_s=10)
    key, execute = fresh_key(), Counter(Outcome(0, b"once"), delay=0.3)
    first = asyncio.create_task(run(store, key, execute))
    await asyncio.sleep(0.05)
    first.cancel()
    assert await run(other, key, execute) == Outcome(0, b"once")
    assert execute.runs == 1


async def test_a_retry_waits_at_most_the_wait_timeout_then_hears_in_progress(engine) -> None:  # type: ignore[no-untyped-def]
    impatient = IdempotencyStore(engine, secret=SECRET, wait_timeout_s=0.1)
    key, execute = fresh_key(), Counter(Outcome(0, b"late"), delay=0.6)
    first = asyncio.create_task(run(impatient, key, execute))
    await asyncio.sleep(0.02)
    with pytest.raises(Unavailable) as caught:
        await run(impatient, key, execute)
    assert caught.value.reason == "IDEMPOTENCY_IN_PROGRESS"
    assert caught.value.retry_after_s is not None and caught.value.retry_after_s > 0
    assert await first == Outcome(0, b"late")
    assert await run(impatient, key, execute) == Outcome(0, b"late")
    assert execute.runs == 1


@pytest.mark.parametrize("code", sorted(RELEASED_CODES))
async def test_transient_outcomes_are_answered_but_not_pinned(
    store: IdempotencyStore, code: int
) -> None:
    key, execute = fresh_key(), Counter(Outcome(code, b"try again"), Outcome(0, b"done"))
    assert await run(store, key, execute) == Outcome(code, b"try again")
    assert await run(store, key, execute) == Outcome(0, b"done")
    assert await run(store, key, execute) == Outcome(0, b"done")
    assert execute.runs == 2


@pytest.mark.parametrize(
    "code", [code_pb2.INVALID_ARGUMENT, code_pb2.FAILED_PRECONDITION, code_pb2.NOT_FOUND]
)
async def test_domain_refusals_stay_recorded(store: IdempotencyStore, code: int) -> None:
    key, execute = fresh_key(), Counter(Outcome(code, b"no"), Outcome(0, b"yes"))
    assert await run(store, key, execute) == Outcome(code, b"no")
    assert await run(store, key, execute) == Outcome(code, b"no")
    assert execute.runs == 1


async def test_an_unexpected_failure_releases_the_key(store: IdempotencyStore) -> None:
    key = fresh_key()

    async def crash() -> Outcome:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await run(store, key, crash)
    assert (await run(store, key, Counter())).payload == b"ok"


async def test_copies_waiting_on_a_crash_share_it_rather_than_rerun(
    store: IdempotencyStore,
) -> None:
    key, runs = fresh_key(), 0

    async def crash() -> Outcome:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.05)
        raise RuntimeError("boom")

    results = await asyncio.gather(
        *[run(store, key, crash) for _ in range(5)], return_exceptions=True
    )
    assert runs == 1 and all(isinstance(r, RuntimeError) for r in results)


async def test_a_claim_abandoned_by_a_dead_process_is_taken_over(store: IdempotencyStore) -> None:
    key = fresh_key()
    dead = IdempotencyStore(store._engine, secret=SECRET)
    hanging = asyncio.Event()

    async def never() -> Outcome:
        await hanging.wait()
        raise AssertionError("unreachable")

    claimed = asyncio.create_task(run(dead, key, never))  # a process claims, then stalls
    await asyncio.sleep(0.05)
    outcome = await run(store, key, Counter(Outcome(0, b"after takeover")))
    assert outcome.payload == b"after takeover"
    claimed.cancel()
    for task in list(dead._tasks):
        task.cancel()


async def test_a_long_execution_keeps_its_claim_past_the_lease(store: IdempotencyStore) -> None:
    """Lease 300 ms; the first copy runs 1 s in a live process, so nobody takes it over."""
    key, execute = fresh_key(), Counter(Outcome(0, b"slow but once"), delay=1.0)
    other = IdempotencyStore(store._engine, secret=SECRET, lease=timedelta(milliseconds=300))
    first = asyncio.create_task(run(store, key, execute))
    await asyncio.sleep(0.05)
    assert await run(other, key, execute) == Outcome(0, b"slow but once")
    assert await first == Outcome(0, b"slow but once")
    assert execute.runs == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "line\nbreak"])
def test_malformed_keys_are_refused(key: str) -> None:
    with pytest.raises(InvalidArgument):
        check_key(key)


async def test_an_expired_record_frees_its_key(engine) -> None:  # type: ignore[no-untyped-def]
    short = IdempotencyStore(engine, secret=SECRET, ttl=timedelta(milliseconds=50))
    key, execute = fresh_key(), Counter(Outcome(0, b"1"), Outcome(0, b"2"))
    assert (await run(short, key, execute)).payload == b"1"
    await asyncio.sleep(0.1)
    other = b"another body, allowed once the key expired"
    assert (await run(short, key, execute, request=other)).payload == b"2"


async def test_copies_reaching_two_processes_still_execute_once(engine) -> None:  # type: ignore[no-untyped-def]
    # Two stores stand for two service processes: they share only the database.
    first = IdempotencyStore(engine, secret=SECRET)
    second = IdempotencyStore(engine, secret=SECRET)
    key, execute = fresh_key(), Counter(Outcome(0, b"once"), delay=0.05)
    copies = [run(first if i % 2 else second, key, execute) for i in range(13)]
    outcomes = await asyncio.gather(*copies)
    assert execute.runs == 1 and set(outcomes) == {Outcome(0, b"once")}
