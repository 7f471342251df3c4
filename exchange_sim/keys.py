"""Typed aiohttp application keys shared by the HTTP, websocket and admin layers."""

from __future__ import annotations

import asyncio

from aiohttp import web

from exchange_sim.simulator import Simulator

SIMULATOR = web.AppKey("exchange_sim.simulator", Simulator)
SHUTDOWN = web.AppKey("exchange_sim.shutdown", asyncio.Event)
WS_CLIENTS = web.AppKey("exchange_sim.ws_clients", set[web.WebSocketResponse])
