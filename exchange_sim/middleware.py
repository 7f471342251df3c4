"""Cross-cutting behaviour of the Binance API paths: errors, weights/limits, fault injection.

Order matters and mirrors the real venue: the request weight is charged first (a rate-limited
request is never executed), then faults decide whether the request runs and what the client
actually receives.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from aiohttp import web

from exchange_sim import errors
from exchange_sim.errors import BinanceError
from exchange_sim.faults import FaultKind, FaultRule
from exchange_sim.keys import SHUTDOWN, SIMULATOR
from exchange_sim.ratelimit import Decision, Verdict, request_weight

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
API_PREFIXES = ("/api/", "/sapi/")


def error_response(exc: BinanceError) -> web.Response:
    """Binance's JSON error body with the error's HTTP status."""
    return web.json_response(exc.body(), status=exc.http_status)


def _limited_response(decision: Decision) -> web.Response:
    if decision.verdict is Verdict.BANNED:
        msg = (
            f"Way too much request weight used; IP banned until {decision.banned_until_ms}. "
            "Please use WebSocket Streams for live updates to avoid bans."
        )
    else:
        msg = (
            f"Too much request weight used; current limit is {decision.limit} request weight "
            "per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API."
        )
    return web.json_response(
        {"code": -1003, "msg": msg},
        status=decision.verdict.value,
        headers={
            "Retry-After": str(decision.retry_after_s),
            "X-MBX-USED-WEIGHT-1M": str(decision.used),
        },
    )


async def _run(handler: Handler, request: web.Request) -> web.StreamResponse:
    try:
        return await handler(request)
    except BinanceError as exc:
        return error_response(exc)


def _drop(request: web.Request) -> web.Response:
    """Close the connection so the client gets no response at all."""
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=204)  # never delivered: the transport is gone


async def _fault_response(request: web.Request, rule: FaultRule) -> web.StreamResponse:
    if rule.kind is FaultKind.HTTP_5XX:
        return web.Response(
            status=rule.status,
            text=f"<html><body><h1>{rule.status}</h1></body></html>",
            content_type="text/html",
        )
    if rule.kind is FaultKind.TIMEOUT_1007:
        return error_response(errors.backend_timeout())
    if rule.kind is FaultKind.HANG:
        shutdown = request.app[SHUTDOWN]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(shutdown.wait(), rule.hang_ms / 1000)
    return _drop(request)


# The sim clock (market time, ms) when a request was served: with a fast clock, candles close
# by it, not by the caller's wall clock. Real exchanges send no such header.
MARKET_TIME_HEADER = "X-Sim-Market-Time-Ms"


@web.middleware
async def binance_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Charge weight, apply faults, and render BinanceError for /api and /sapi paths."""
    if not request.path.startswith(API_PREFIXES):
        return await handler(request)
    sim = request.app[SIMULATOR]
    method, path = request.method, request.path
    sim.requests[f"{method} {path}"] += 1
    api_key = request.headers.get("X-MBX-APIKEY")
    account = sim.accounts.get(api_key) if api_key else None
    key_limit = account.weight_limit if account else None
    bucket = sim.limiter.bucket_for(request.remote or "", api_key, key_limit is not None)
    weight = request_weight(method, path, dict(request.query))
    decision = sim.limiter.charge(bucket, weight, sim.wall_s(), key_limit)
    if decision.verdict is not Verdict.OK:
        return _limited_response(decision)
    plan = sim.faults.evaluate(method, path, api_key)
    if plan.latency_ms > 0:
        await asyncio.sleep(plan.latency_ms / 1000)
    rule = plan.outcome
    if rule is None:
        # Read before the handler runs: market data in the answer is at least this recent.
        market_time = int(sim.sim_ms())
        response = await _run(handler, request)
        response.headers["X-MBX-USED-WEIGHT-1M"] = str(decision.used)
        response.headers[MARKET_TIME_HEADER] = str(market_time)
        return response
    if rule.execute:
        await _run(handler, request)
    return await _fault_response(request, rule)
