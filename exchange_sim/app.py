"""aiohttp application factory and an in-process server helper for tests and benchmarks.

``create_app`` wires the thin HTTP/websocket/admin layers to a :class:`Simulator` and runs the
background matcher; ``start_sim`` serves it on a free loopback port inside the running loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import WSCloseCode, web

from exchange_sim import admin_api, admin_controls, http_api, ws
from exchange_sim.admin import AdminClient
from exchange_sim.config import SimConfig
from exchange_sim.keys import SHUTDOWN, SIMULATOR, WS_CLIENTS
from exchange_sim.middleware import binance_middleware
from exchange_sim.simulator import Simulator
from exchanges.sim import sim_config

log = logging.getLogger("exchange_sim")


async def _matcher(app: web.Application) -> AsyncIterator[None]:
    """Background task: fill resting limit orders as the price crosses them."""
    sim = app[SIMULATOR]

    async def loop() -> None:
        while True:
            await asyncio.sleep(sim.config.match_interval_s)
            if sim.matcher_paused:
                continue
            try:
                sim.match_step()
            except Exception:  # keep matching even if one step hits a bug
                log.exception("matching step failed")

    task = asyncio.create_task(loop())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _on_shutdown(app: web.Application) -> None:
    """Release hung requests and close websockets so shutdown is quick."""
    app[SHUTDOWN].set()
    clients: set[web.WebSocketResponse] = app[WS_CLIENTS]
    for client in list(clients):
        await client.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


def create_app(
    config: SimConfig | None = None, *, simulator: Simulator | None = None
) -> web.Application:
    """The simulator as an aiohttp application (REST, websocket streams and admin API)."""
    sim = simulator or Simulator(config)
    app = web.Application(middlewares=[admin_api.admin_middleware, binance_middleware])
    app[SIMULATOR] = sim
    app[SHUTDOWN] = asyncio.Event()
    app[WS_CLIENTS] = set()
    app.add_routes(http_api.routes)
    app.add_routes(ws.routes)
    app.add_routes(admin_api.routes)
    app.add_routes(admin_controls.routes)
    app.cleanup_ctx.append(_matcher)
    app.on_shutdown.append(_on_shutdown)
    return app


class SimServer:
    """A running simulator: its URLs, the in-process :class:`Simulator`, and helpers."""

    def __init__(self, runner: web.AppRunner, simulator: Simulator, host: str, port: int) -> None:
        self._runner = runner
        self.simulator = simulator
        self.host = host
        self.port = port

    @property
    def base_url(self) -> str:
        """``http://host:port`` (what ``exchanges.sim.sim_config``/``AdminClient`` take)."""
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """``ws://host:port`` (raw streams under /ws, combined under /stream)."""
        return f"ws://{self.host}:{self.port}"

    def admin(self) -> AdminClient:
        """Admin API client for this server (close it, or use ``async with``)."""
        return AdminClient(self.base_url, token=self.simulator.config.admin_token)

    def ccxt_config(
        self, api_key: str | None = None, api_secret: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """Constructor config for ``ccxt.async_support.binance`` / ``ccxt.pro.binance`` (the
        sim venue of exchanges/sim.py; ``sim_config(exchange, ...)`` there for other ids)."""
        return sim_config("binance", self.base_url, api_key, api_secret, **extra)

    async def close(self) -> None:
        """Stop serving and release everything."""
        await self._runner.cleanup()


async def start_sim(
    config: SimConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> SimServer:
    """Serve a new simulator in the running event loop (``port=0``: a free port)."""
    app = create_app(config)
    runner = web.AppRunner(app, shutdown_timeout=2.0, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if port == 0 else port
    return SimServer(runner, app[SIMULATOR], host, int(bound))


@asynccontextmanager
async def running_sim(
    config: SimConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[SimServer]:
    """``async with running_sim() as sim:`` -- start_sim + guaranteed close."""
    server = await start_sim(config, host=host, port=port)
    try:
        yield server
    finally:
        await server.close()
