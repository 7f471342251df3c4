"""Runs fuzz cases through Envoy and judges the answers.

An answer fails when it is a server error: HTTP >= 500 or gRPC INTERNAL, UNKNOWN or
DATA_LOSS, except UNAVAILABLE (503) that carries RetryInfo; a 429 is fine. It also fails
when a refusal is not a google.rpc.Status with an ErrorInfo reason, or shows a traceback.
Failures print the request (keys replaced by their scope) and the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
from google.rpc import error_details_pb2, status_pb2

from mesh.ids import new_id
from tests.e2e.fuzz_cases import Rpc, World, request_dict, rest_request
from tests.e2e.fuzz_wire import grpc_request
from tests.e2e.vault_support import new_principal

STREAM_FIRST_S = 3.0
HOSTILE_IDEMPOTENCY_KEYS = ["", "x" * 300, "é", "a b", "\u0000"]
BAD_GRPC = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS}


@dataclass
class Auth:
    keys: dict[str, str]  # scope -> key
    principal: str

    def headers(self, rpc: Rpc, rng: random.Random) -> dict[str, str]:
        headers: dict[str, str] = {}
        if rpc.streaming and rng.random() < 0.1:
            return headers  # the dashboard-token path (access_token is fuzzed as a field)
        if rpc.principal:
            headers["x-api-key"] = self.keys["marketplace"]
            # DeleteUser would end the fuzzing principal's world; CreateUser needs a new one.
            fresh = rpc.name in ("DeleteUser", "CreateUser")
            keep = not fresh and rng.random() < 0.85
            headers["x-principal-id"] = self.principal if keep else new_principal()
        else:
            scope = next(s for s in rpc.scopes if s in self.keys)
            headers["x-api-key"] = self.keys[scope]
        if rpc.verb in ("post", "patch", "delete") and rng.random() < 0.8:
            bad = rng.random() < 0.1
            key = rng.choice(HOSTILE_IDEMPOTENCY_KEYS) if bad else new_id("fz")
            if key.isprintable() and key.isascii():
                headers["idempotency-key"] = key
        return headers

    def redact(self, headers: dict[str, str] | tuple[tuple[str, str], ...]) -> dict[str, str]:
        names = {key: f"<{scope} key>" for scope, key in self.keys.items()}
        items = headers.items() if isinstance(headers, dict) else headers
        return {k: names.get(v, v) for k, v in items}


@dataclass
class Tally:
    cases: int = 0
    failures: list[str] = field(default_factory=list)
    answers: Counter[str] = field(default_factory=Counter)
    per_rpc: Counter[str] = field(default_factory=Counter)
    # Per RPC, the answers that got past validation into a handler's success path.
    ok_per_rpc: Counter[str] = field(default_factory=Counter)

    def server_errors(self) -> int:
        return sum(n for k, n in self.answers.items() if k.startswith("5") or k in _BAD_NAMES)


_BAD_NAMES = {c.name for c in BAD_GRPC}


def _status_detail(raw: bytes) -> tuple[str, bool]:
    """(ErrorInfo reason or "", has RetryInfo) of a serialized google.rpc.Status."""
    status = status_pb2.Status.FromString(raw)
    reason, retry = "", False
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        retry = retry or detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR)
    return reason, retry


def judge_rest(status: int, body: bytes) -> str | None:
    """Why a REST answer is wrong, or None."""
    if b"Traceback" in body:
        return "a traceback in the answer"
    if status < 400:
        return None
    if status in (598, 599):
        return "no answer"
    try:
        answer = json.loads(body)
        reasons = [d.get("reason") for d in answer.get("details", []) if "ErrorInfo" in d["@type"]]
        retry = any("RetryInfo" in d["@type"] for d in answer.get("details", []))
        code = answer["code"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return "a refusal that is not a google.rpc.Status"
    if status >= 500 and not (status == 503 and retry):
        return "a server error"
    if not (isinstance(code, int) and reasons and reasons[0]):
        return "a refusal without an ErrorInfo reason"
    return None


async def send_rest(
    client: httpx.AsyncClient, rpc: Rpc, world: World, auth: Auth, rng: random.Random, tally: Tally
) -> None:
    req = rest_request(rpc, request_dict(rpc, world, rng), rng)
    headers = auth.headers(rpc, rng)
    if req.body is not None:
        headers["content-type"] = "application/json"
    try:
        async with client.stream(
            req.method, req.url, headers=headers, content=req.body, timeout=15
        ) as resp:
            if rpc.streaming and resp.status_code == 200:
                chunks = resp.aiter_bytes()
                try:
                    first = await asyncio.wait_for(anext(chunks), STREAM_FIRST_S)
                except (TimeoutError, StopAsyncIteration):
                    first = b""
                await chunks.aclose()  # type: ignore[attr-defined]
                body = first if b'"code"' in first else b""
                status = 500 if b'"code":13' in first or b'"code":2,' in first else 200
            else:
                body = await resp.aread()
                status = resp.status_code
    except httpx.TimeoutException:
        status, body = 599, b"(no answer within 15 s)"
    except httpx.TransportError as error:
        status, body = 598, f"(the connection ended without an answer: {error!r})".encode()
    tally.answers[str(status)] += 1
    tally.ok_per_rpc[rpc.name] += status < 300
    why = judge_rest(status, body)
    if why is not None:
        shown = (req.body or b"")[:400]
        tally.failures.append(
            f"{rpc.name} REST: {why}\n  {req.method} {req.url[:400]}\n"
            f"  headers {auth.redact(headers)}\n  body {shown!r}\n"
            f"  answer {status} {body[:600]!r}"
        )


async def send_grpc(
    channel: grpc.aio.Channel, rpc: Rpc, world: World, auth: Auth, rng: random.Random, tally: Tally
) -> None:
    payload = grpc_request(rpc, world, rng)
    metadata = tuple(auth.headers(rpc, rng).items())
    identity: Callable[[bytes], bytes] = lambda b: b  # noqa: E731
    code, details = grpc.StatusCode.OK, ""
    trailers: Any = ()
    try:
        if rpc.streaming:
            call: Any = channel.unary_stream(rpc.path, identity, identity)(
                payload, metadata=metadata, timeout=10
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(call.read(), STREAM_FIRST_S)
            call.cancel()
            if call.done() and not call.cancelled():
                code, details, trailers = await _outcome(call)
        else:
            unary: Awaitable[bytes] = channel.unary_unary(rpc.path, identity, identity)(
                payload, metadata=metadata, timeout=15
            )
            await unary
    except grpc.aio.AioRpcError as error:
        code, details, trailers = error.code(), error.details() or "", error.trailing_metadata()
    tally.answers[code.name] += 1
    tally.ok_per_rpc[rpc.name] += code == grpc.StatusCode.OK
    raw = dict(trailers or ()).get("grpc-status-details-bin")
    reason, retry = _status_detail(raw) if isinstance(raw, bytes) else ("", False)
    why = None
    if code in BAD_GRPC or (code == grpc.StatusCode.UNAVAILABLE and not retry):
        why = "a server error"
    elif (
        code
        not in (grpc.StatusCode.OK, grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED)
        and not reason
    ):
        why = "a refusal without an ErrorInfo reason"
    if why is not None:
        tally.failures.append(
            f"{rpc.name} gRPC: {why}\n  {rpc.path} metadata {auth.redact(metadata)}\n"
            f"  request bytes {payload[:300]!r}\n  answer {code.name} {details[:300]!r}"
        )


async def _outcome(call: Any) -> tuple[grpc.StatusCode, str, Any]:
    return await call.code(), await call.details() or "", await call.trailing_metadata()


async def run_cases(
    total: int,
    concurrency: int,
    rpcs: list[Rpc],
    rng: random.Random,
    send: Callable[[Rpc, random.Random, Tally], Awaitable[None]],
) -> Tally:
    """`total` cases over the RPCs in turn (each RPC gets its share), `concurrency` at once.
    Each case has its own Random seeded from `rng`, so the run replays exactly."""
    tally = Tally()
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int, case_rng: random.Random) -> None:
        rpc = rpcs[i % len(rpcs)]
        async with gate:
            await send(rpc, case_rng, tally)
        tally.cases += 1
        tally.per_rpc[rpc.name] += 1

    await asyncio.gather(*(one(i, random.Random(rng.getrandbits(64))) for i in range(total)))
    return tally
