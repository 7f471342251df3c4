"""Binance market-stream websocket endpoints: raw ``/ws[/<stream>...]`` and combined ``/stream``.

Clients subscribe either in the URL or with Binance's live control messages
(``{"method": "SUBSCRIBE", "params": [...], "id": n}`` -> ``{"result": null, "id": n}``), which
is how ccxt.pro works: it connects to ``<ws-url>/<n>`` and sends SUBSCRIBE.  Every stream is
pushed once right after subscribing and then every ``ws_interval_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiohttp import WSMsgType, web

from exchange_sim import streams
from exchange_sim.keys import SIMULATOR, WS_CLIENTS
from exchange_sim.simulator import Simulator

routes = web.RouteTableDef()


class _Connection:
    """Subscriptions and push loop of one websocket client."""

    def __init__(self, ws: web.WebSocketResponse, sim: Simulator, combined: bool) -> None:
        self.ws = ws
        self.sim = sim
        self.combined = combined
        self.subscribed: dict[str, streams.Stream] = {}

    async def push(self, names: list[str]) -> None:
        for name in names:
            stream = self.subscribed.get(name)
            if stream is None or self.ws.closed:
                continue
            data = streams.event(self.sim, stream)
            payload = {"stream": name, "data": data} if self.combined else data
            await self.ws.send_str(json.dumps(payload))

    async def pump(self) -> None:
        while not self.ws.closed:
            await asyncio.sleep(self.sim.config.ws_interval_s)
            await self.push(list(self.subscribed))

    def subscribe(self, names: list[str]) -> list[str]:
        """Add streams; returns the names that are unknown (nothing is added then)."""
        parsed = {name: streams.parse(name, self.sim) for name in names}
        bad = [name for name, stream in parsed.items() if stream is None]
        if not bad:
            self.subscribed.update({n: s for n, s in parsed.items() if s is not None})
        return bad

    async def control(self, raw: str) -> None:
        """Handle one SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS / SET_PROPERTY message."""
        try:
            msg = json.loads(raw)
        except ValueError:
            msg = None
        if not isinstance(msg, dict):
            await self.ws.send_json({"error": {"code": 3, "msg": "Invalid JSON"}, "id": None})
            return
        req_id = msg.get("id")
        method = msg.get("method")
        names = [str(n) for n in msg.get("params") or []]
        reply: dict[str, Any] = {"result": None, "id": req_id}
        new: list[str] = []
        if method == "SUBSCRIBE":
            bad = self.subscribe(names)
            if bad:
                error = {"code": 2, "msg": f"Invalid request: unknown stream {bad[0]}"}
                reply = {"error": error, "id": req_id}
            else:
                new = names
        elif method == "UNSUBSCRIBE":
            for name in names:
                self.subscribed.pop(name, None)
        elif method == "LIST_SUBSCRIPTIONS":
            reply["result"] = list(self.subscribed)
        elif method != "SET_PROPERTY":
            reply = {"error": {"code": 2, "msg": "Invalid request: unknown method"}, "id": req_id}
        await self.ws.send_json(reply)
        await self.push(new)


async def _serve(request: web.Request, combined: bool, initial: list[str]) -> web.WebSocketResponse:
    sim = request.app[SIMULATOR]
    ws = web.WebSocketResponse(autoping=True)
    await ws.prepare(request)
    conn = _Connection(ws, sim, combined)
    clients = request.app[WS_CLIENTS]
    clients.add(ws)
    if conn.subscribe(initial):
        await ws.close(code=1008, message=b"unknown stream")
        clients.discard(ws)
        return ws
    pump = asyncio.create_task(conn.pump())
    try:
        await conn.push(initial)
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                await conn.control(msg.data)
            elif msg.type is WSMsgType.ERROR:
                break
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionResetError):
            await pump
        clients.discard(ws)
    return ws


@routes.get("/ws")
@routes.get("/ws/{tail:.*}")
async def raw_streams(request: web.Request) -> web.WebSocketResponse:
    """Raw streams: ``/ws/btcusdt@ticker/ethusdt@ticker``; ``/ws/<n>`` (ccxt) names none."""
    tail = request.match_info.get("tail", "")
    initial = [part for part in tail.split("/") if "@" in part]
    return await _serve(request, combined=False, initial=initial)


@routes.get("/stream")
async def combined_streams(request: web.Request) -> web.WebSocketResponse:
    """Combined streams: ``/stream?streams=a/b``; events wrapped as ``{"stream", "data"}``."""
    names = [n for n in request.query.get("streams", "").split("/") if n]
    return await _serve(request, combined=True, initial=names)
