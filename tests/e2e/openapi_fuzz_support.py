"""schemathesis against Envoy, from gen/openapi.json: cases generated from the document for
every operation, sent with a real key, and every answer checked against the document.

Checks on every answer: no 5xx (not_a_server_error), a documented status code, a documented
content type, and a body conforming to the documented schema.

Server-streaming operations (SSE) never end, so their answers get a bounded read: a non-200
answer is a whole JSON body and is checked like any other; a 200 must be text/event-stream
and its first event, which comes within a heartbeat interval at the latest, must be a
`data: <JSON>` line conforming to the operation's message schema (x-sse-data-schema). The
connection is closed after that first event (or after STREAM_READ_S, a failure).

Generation runs first, in one thread (hypothesis is not thread-safe), seeded for replay;
the cases are then sent by a small pool of threads, one HTTP session each.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from jsonschema import Draft202012Validator, FormatChecker
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.core.failures import FailureGroup

from tests.e2e.vault_support import new_principal

CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]
# A stream's first event (a heartbeat at the latest) comes within this, or it is a failure.
STREAM_READ_S = 10.0
# How often a path parameter names one of the fuzzing principal's real resources.
REAL_ID_RATE = 0.5
# How often a case carries no credentials at all (its answer, a 401, is checked too).
ANONYMOUS_RATE = 0.1
# Operations that would end or replace the fuzzing principal act for a fresh one.
FRESH_PRINCIPAL = {"CreateUser", "DeleteUser"}


@dataclass
class Result:
    cases: int = 0
    per_operation: Counter[str] = field(default_factory=Counter)
    ok_per_operation: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    # (operation, status) -> answers: which operations met a given answer.
    answers: Counter[tuple[str, int]] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    streams_opened: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, op: str, status: int, problems: list[str]) -> None:
        with self.lock:
            self.cases += 1
            self.per_operation[op] += 1
            self.ok_per_operation[op] += status == 200
            self.statuses[status] += 1
            self.answers[(op, status)] += 1
            self.failures.extend(problems)

    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def operations_answered(self, status: int) -> set[str]:
        return {op for (op, answered), n in self.answers.items() if answered == status and n}


@dataclass(frozen=True)
class Target:
    base_url: str
    api_key: str
    principal: str
    # Path-parameter name -> real ids of the fuzzing principal's world.
    ids: dict[str, list[str]]


def operations(document: Path) -> list[APIOperation]:
    schema = schemathesis.openapi.from_path(str(document))
    return [result.ok() for result in schema.get_all_operations()]


def generate(
    ops: list[APIOperation],
    per_operation: int,
    run_seed: int,
    mode: GenerationMode = GenerationMode.POSITIVE,
) -> list[Case]:
    """Up to per_operation cases of each operation, seeded: positive ones fit the document;
    negative ones break it somewhere (a wrong type, a value past a limit, a missing field)."""
    cases: list[Case] = []
    for op in ops:

        @seed(run_seed)
        @settings(
            max_examples=per_operation,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=op.as_strategy(generation_mode=mode))
        def collect(case: Case) -> None:
            cases.append(case)

        collect()
    return cases


def send_all(
    cases: list[Case],
    target: Target,
    document: dict[str, Any],
    run_seed: int,
    threads: int,
    anonymous_rate: float = ANONYMOUS_RATE,
    real_id_rate: float = REAL_ID_RATE,
) -> Result:
    result = Result()
    rng = random.Random(run_seed)
    # Decided up front, in order, so a seed replays the same requests.
    plans = [
        (case, rng.random() < real_id_rate, rng.random(), rng.random() < anonymous_rate)
        for case in cases
    ]
    local = threading.local()

    def session() -> requests.Session:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        return local.session  # type: ignore[no-any-return]

    def one(plan: tuple[Case, bool, float, bool]) -> None:
        case, real, pick, anonymous = plan
        _send(case, target, document, session(), result, real, pick, anonymous)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, plans))
    return result


def _headers(case: Case, target: Target, anonymous: bool) -> dict[str, str]:
    if anonymous:
        return {}
    op_id = case.operation.definition.raw["operationId"]
    principal = new_principal() if op_id in FRESH_PRINCIPAL else target.principal
    return {"x-api-key": target.api_key, "x-principal-id": principal}


def _send(
    case: Case,
    target: Target,
    document: dict[str, Any],
    session: requests.Session,
    result: Result,
    real_ids: bool,
    pick: float,
    anonymous: bool,
) -> None:
    op_id = case.operation.definition.raw["operationId"]
    if real_ids:
        for name in list(case.path_parameters or {}):
            known = target.ids.get(name)
            if known:
                case.path_parameters[name] = known[int(pick * len(known))]  # type: ignore[index]
    if real_ids and isinstance(case.body, dict):
        _name_real_things(case.body, target.ids, pick)
    headers = _headers(case, target, anonymous)
    kwargs = case.as_transport_kwargs(base_url=target.base_url, headers=headers)
    if anonymous:  # the generated credentials go too: made-up keys, tokens and principals
        for name in ("x-api-key", "x-principal-id", "x-access-token", "Authorization"):
            kwargs["headers"].pop(name, None)
        (kwargs.get("params") or {}).pop("access_token", None)
    label = f"{op_id} {kwargs['method']} {kwargs['url']} params={kwargs.get('params')}"
    streaming = "text/event-stream" in json.dumps(case.operation.definition.raw["responses"]["200"])
    problems: list[str] = []
    with session.request(**kwargs, stream=streaming, timeout=(10, STREAM_READ_S)) as response:
        if streaming and response.status_code == 200:
            problems = _first_event_problems(case, response, document)
            with result.lock:
                result.streams_opened += 1
        else:
            problems = _check(case, response, headers, kwargs)
            if problems:
                shown = {k: v for k, v in kwargs["headers"].items() if k.lower() != "x-api-key"}
                problems = [
                    f"{p} [headers {shown}] answer {response.text[:300]!r}" for p in problems
                ]
    body = json.dumps(kwargs.get("json"))[:300]
    status = response.status_code
    result.record(op_id, status, [f"{label} body={body} -> {status}: {p}" for p in problems])


def _name_real_things(body: dict[str, Any], ids: dict[str, list[str]], pick: float) -> None:
    """Body fields named like the world's ids (listing_id, credential_id, market...) get a
    real value, in nested messages too."""
    for key, value in body.items():
        known = ids.get(key)
        if known and isinstance(value, str):
            body[key] = known[int(pick * len(known))]
        elif isinstance(value, dict):
            _name_real_things(value, ids, pick)


def _check(
    case: Case, response: requests.Response, headers: dict[str, str], kwargs: dict[str, Any]
) -> list[str]:
    try:
        case.validate_response(response, checks=CHECKS, headers=headers, transport_kwargs=kwargs)
    except FailureGroup as group:
        return [f"{type(f).__name__}: {f.title}: {f.message[:400]}" for f in group.exceptions]
    except AssertionError as failure:
        return [f"{type(failure).__name__}: {str(failure)[:600]}"]
    return []


def _first_event_problems(
    case: Case, response: requests.Response, document: dict[str, Any]
) -> list[str]:
    media = case.operation.definition.raw["responses"]["200"]["content"]
    ctype = response.headers.get("content-type", "")
    if "text/event-stream" not in media or not ctype.startswith("text/event-stream"):
        return [f"a stream answered 200 with content-type {ctype!r}"]
    try:
        line = next(ln for ln in response.iter_lines(decode_unicode=True) if ln)
    except (StopIteration, requests.RequestException) as exc:
        return [f"no first event within {STREAM_READ_S} s: {exc!r}"]
    if not line.startswith("data:"):
        return [f"the first SSE line is not a data line: {line[:200]!r}"]
    try:
        event = json.loads(line[len("data:") :])
    except ValueError:
        return [f"the first event is not JSON: {line[:200]!r}"]
    schema = {
        **media["text/event-stream"]["x-sse-data-schema"],
        "components": document["components"],
    }
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    return [f"first event: {e.message[:300]}" for e in validator.iter_errors(event)]


def summary(result: Result, seconds: float, run_seed: int, replay_env: str) -> str:
    shown = "\n".join(result.failures[:20])
    ok = +result.ok_per_operation
    return (
        f"schemathesis: {result.cases} cases over {len(result.per_operation)} operations in "
        f"{seconds:.1f} s, {result.server_errors()} server errors, {len(result.failures)} "
        f"failures, {result.streams_opened} streams opened; replay with {replay_env}={run_seed}"
        f"\nstatuses: {dict(sorted(result.statuses.items()))}\n"
        f"operations never answered 200: {sorted(set(result.per_operation) - set(ok))}\n{shown}"
    )
