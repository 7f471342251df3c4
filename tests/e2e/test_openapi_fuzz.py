"""The OpenAPI document is what Envoy does: schemathesis generates requests for every public
operation from gen/openapi.json, sends them through Envoy with a real API key holding every
scope (and the fuzzing principal), and every answer must be documented: no server error, a
documented status and content type, a conforming body (for streams, the first event).

Half of the path parameters name the fuzzing principal's real resources, so cases reach the
handlers rather than stopping at "not found". The answers that key never meets, 403 (a scope
it lacks) and 429 (past its rate), are met by keys made for them and checked the same way.
Seeded: BOTMESH_FUZZ_SEED replays a run.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
from schemathesis import APIOperation, Case, GenerationMode

from mesh.scopes import SCOPES
from tests.e2e.fuzz_world import SEED_ENV, build_world, fuzz_cases, fuzz_seed
from tests.e2e.openapi_fuzz_support import Target, generate, operations, send_all, summary
from tests.e2e.subscription_support import payment
from tests.e2e.vault_support import new_principal
from tools.openapi import OUTPUT

CASES_PER_OPERATION = 30
# Cases that break the document (each must still be answered with a documented error).
NEGATIVE_PER_OPERATION = 15
THREADS = 8


async def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(
    rest: httpx.AsyncClient,
    keys: dict[str, str],
    issue_key,
    exchange_sim: object,  # type: ignore[no-untyped-def]
) -> None:
    run_seed = fuzz_seed()
    world, principal = await build_world(rest, keys, exchange_sim)
    _, every_scope = await issue_key(*SCOPES, name="openapi fuzz")
    ids = {**world.ids, "market": ["BTC-USDT"]}
    target = Target(str(rest.base_url).rstrip("/"), every_scope, principal, ids)
    document = json.loads(OUTPUT.read_text())
    ops = operations(OUTPUT)

    # Requests known to succeed: their 200 answers are checked against the document too.
    good = known_good({op.definition.raw["operationId"]: op for op in ops}, ids)
    answered = await asyncio.to_thread(send_all, good, target, document, run_seed, 1, 0.0, 0.0)
    assert not answered.failures, summary(answered, 0, run_seed, SEED_ENV)
    assert set(+answered.ok_per_operation) == {
        c.operation.definition.raw["operationId"] for c in good
    }, summary(answered, 0, run_seed, SEED_ENV)

    start = time.perf_counter()
    cases = await asyncio.to_thread(generate, ops, fuzz_cases(CASES_PER_OPERATION), run_seed)
    cases += await asyncio.to_thread(
        generate, ops, fuzz_cases(NEGATIVE_PER_OPERATION), run_seed, GenerationMode.NEGATIVE
    )
    # In a thread: exchange_sim answers the services from this test's event loop.
    result = await asyncio.to_thread(send_all, cases, target, document, run_seed, THREADS)
    text = summary(result, time.perf_counter() - start, run_seed, SEED_ENV)
    print(text)

    every = {op.definition.raw["operationId"] for op in ops}
    assert set(result.per_operation) == every, "every public operation was fuzzed"
    assert result.cases >= 1000, text
    assert result.server_errors() == 0, text
    assert not result.failures, text


def known_good(ops: dict[str, APIOperation], ids: dict[str, list[str]]) -> list[Case]:
    """One request each that succeeds for the fuzzing principal, for operations whose
    generated cases rarely do (their 200 bodies are checked like every other answer)."""
    sub = ids["subscription_id"][0]
    strategy: dict[str, Any] = {"name": "ma_crossover"}
    window: dict[str, Any] = {
        "start_time": "2026-10-01T00:00:00Z",
        "end_time": "2026-10-03T00:00:00Z",
    }
    cases = [
        ops["Analyze"].Case(body={"market": "BTC-USDT", "timeframe": "1h", "strategy": strategy}),
        ops["CreateBacktest"].Case(
            body={
                "strategy": strategy,
                "market": "BTC-USDT",
                "timeframe": "1h",
                "initial_balance": "1000",
                **window,
            }
        ),
        ops["VerifyExchangeCredential"].Case(
            path_parameters={"credential_id": ids["credential_id"][0]}, body={}
        ),
        ops["CreateExchangeCredential"].Case(
            body={"exchange": "binance", "api_key": "k" * 16, "api_secret": "s" * 16}
        ),
        ops["UpdateBot"].Case(
            path_parameters={"bot_bot_id": ids["bot_id"][0]},
            query={"update_mask": "description"},
            body={"description": "fuzzed through the OpenAPI document"},
        ),
        ops["PlaceOrder"].Case(
            path_parameters={"subscription_id": sub},
            body={"side": "ORDER_SIDE_BUY", "type": "ORDER_TYPE_MARKET", "quantity": "0.001"},
        ),
        ops["RecordPayment"].Case(path_parameters={"subscription_id": sub}, body=payment()),
        ops["PauseSubscription"].Case(path_parameters={"subscription_id": sub}, body={}),
        ops["ResumeSubscription"].Case(path_parameters={"subscription_id": sub}, body={}),
    ]
    return cases


async def test_the_refusals_the_fuzz_never_meets_are_documented_answers_too(
    rest: httpx.AsyncClient, issue_key
) -> None:  # type: ignore[no-untyped-def]
    """The fuzzing key has every scope and a high rate, so it never meets 403 or 429. Here
    every operation is sent by a key lacking every scope it accepts (x-botmesh-scopes), and
    by a key with every scope past its rate of 1 a second: each answer is one the document
    describes, and every operation meets its 403 and its 429."""
    ops = operations(OUTPUT)
    every = {op.definition.raw["operationId"] for op in ops}
    document = json.loads(OUTPUT.read_text())
    run_seed = fuzz_seed()
    cases = await asyncio.to_thread(generate, ops, 4, run_seed)
    base_url = str(rest.base_url).rstrip("/")

    # Each operation goes with a key of the first scope it does not accept.
    outside: dict[str, list[Case]] = {}
    for case in cases:
        accepted = case.operation.definition.raw["x-botmesh-scopes"]
        outside.setdefault(next(s for s in SCOPES if s not in accepted), []).append(case)
    forbidden = []
    for scope, chosen in outside.items():
        target = Target(base_url, (await issue_key(scope))[1], new_principal(), {})
        forbidden.append(
            await asyncio.to_thread(send_all, chosen, target, document, run_seed, 4, 0.0, 0.0)
        )
    texts = [summary(r, 0, run_seed, SEED_ENV) for r in forbidden]
    print(*texts, sep="\n")
    assert all(not r.failures for r in forbidden), texts
    assert set().union(*(r.operations_answered(403) for r in forbidden)) == every

    _, slow = await issue_key(*SCOPES, name="openapi 429", rate_limit_per_s=1)
    target = Target(base_url, slow, new_principal(), {})
    limited = await asyncio.to_thread(send_all, cases, target, document, run_seed, 1, 0.0, 0.0)
    text = summary(limited, 0, run_seed, SEED_ENV)
    print(text)
    assert not limited.failures, text
    assert limited.operations_answered(429) == every, text


async def test_a_document_that_lies_about_an_answer_is_caught(
    rest: httpx.AsyncClient, keys: dict[str, str], exchange_sim: object, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """The checks bite: a copy of the document claiming the ticker is a number and that the
    ticker route never answers 400 or 404 fails on every case."""
    document = json.loads(OUTPUT.read_text())
    ticker = document["paths"]["/v1/markets/{market}/ticker"]["get"]
    ticker["responses"]["200"]["content"]["application/json"]["schema"] = {"type": "number"}
    for code in ("400", "404"):
        del ticker["responses"][code]
    lying = tmp_path / "openapi.json"
    lying.write_text(json.dumps(document))
    ops = [op for op in operations(lying) if op.definition.raw["operationId"] == "GetTicker"]
    target = Target(str(rest.base_url).rstrip("/"), keys["read"], "", {"market": ["BTC-USDT"]})

    cases = await asyncio.to_thread(generate, ops, 20, 7)
    result = await asyncio.to_thread(send_all, cases, target, document, 7, 2, 0.0)

    assert result.cases == len(cases) > 0
    assert len(result.failures) >= result.cases, summary(result, 0, 7, SEED_ENV)
    assert any("status" in f.lower() for f in result.failures)
    assert any("schema" in f.lower() for f in result.failures), "\n".join(result.failures)
