"""Fault injection: each fault type, selection by method/path/key, counts, seeds, clearing."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import ccxt.async_support as ccxt
import pytest

from exchange_sim import AdminAPIError, AdminClient, SimConfig, SimServer, running_sim

pytestmark = pytest.mark.timeout(60)  # every wait below is bounded; this is a backstop
ExchangeFactory = Callable[..., Any]
ORDER = "/api/v3/order"


async def test_latency_delays_only_the_selected_endpoint(
    fresh_sim: SimServer, fresh_admin: AdminClient, make_exchange: ExchangeFactory
) -> None:
    await fresh_admin.add_fault("latency", method="GET", path="/api/v3/ticker/*", latency_ms=500)
    ex = make_exchange(fresh_sim)
    await ex.load_markets()
    started = time.monotonic()
    await ex.fetch_ticker("BTC/USDT")
    assert time.monotonic() - started >= 0.5
    started = time.monotonic()
    await ex.fetch_time()
    assert time.monotonic() - started < 0.4


async def test_next_n_5xx_answers_fail_without_placing_orders(
    fresh_sim: SimServer, fresh_admin: AdminClient, make_exchange: ExchangeFactory
) -> None:
    creds = await fresh_admin.create_account({"USDT": "10000"})
    ex = make_exchange(fresh_sim, creds)
    await ex.load_markets()
    await fresh_admin.add_fault("http_5xx", method="POST", path=ORDER, count=2, status=503)
    for _ in range(2):
        with pytest.raises(ccxt.ExchangeNotAvailable, match="503"):
            await ex.create_order("BTC/USDT", "market", "buy", 0.001)
    assert await fresh_admin.orders(creds.api_key) == []
    assert (await ex.create_order("BTC/USDT", "market", "buy", 0.001))["status"] == "closed"
    [rule] = await fresh_admin.faults()
    assert (rule["matched"], rule["fired"], rule["remaining"]) == (2, 2, 0)


async def test_1007_surfaces_as_request_timeout_and_may_have_executed(
    fresh_sim: SimServer, fresh_admin: AdminClient, make_exchange: ExchangeFactory
) -> None:
    creds = await fresh_admin.create_account({"USDT": "10000"})
    ex = make_exchange(fresh_sim, creds)
    await ex.load_markets()
    await fresh_admin.add_fault("timeout_1007", method="POST", path=ORDER, count=1)
    with pytest.raises(ccxt.RequestTimeout, match="-1007"):
        await ex.create_order("BTC/USDT", "market", "buy", 0.001, None, {"clientOrderId": "a"})
    assert await fresh_admin.orders(creds.api_key) == []  # default: not executed
    await fresh_admin.add_fault("timeout_1007", method="POST", path=ORDER, count=1, execute=True)
    with pytest.raises(ccxt.RequestTimeout):
        await ex.create_order("BTC/USDT", "market", "buy", 0.001, None, {"clientOrderId": "b"})
    [order] = await fresh_admin.orders(creds.api_key)
    assert order["clientOrderId"] == "b" and order["status"] == "FILLED"


async def test_accepted_but_dropped_response_leaves_exactly_one_order(
    fresh_sim: SimServer, fresh_admin: AdminClient, make_exchange: ExchangeFactory
) -> None:
    creds = await fresh_admin.create_account({"USDT": "10000"})
    ex = make_exchange(fresh_sim, creds)
    await ex.load_markets()
    await fresh_admin.add_fault("drop_response", method="POST", path=ORDER, count=1)
    with pytest.raises(ccxt.NetworkError):
        await ex.create_order("BTC/USDT", "limit", "buy", 0.01, 50000, {"clientOrderId": "lost-1"})
    orders = await fresh_admin.orders(creds.api_key, client_order_id="lost-1")
    assert len(orders) == 1 and orders[0]["status"] == "NEW"
    found = await ex.fetch_order(None, "BTC/USDT", {"clientOrderId": "lost-1"})
    assert found["id"] == str(orders[0]["orderId"]) and found["status"] == "open"
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate"):  # a blind retry is refused
        await ex.create_order("BTC/USDT", "limit", "buy", 0.01, 50000, {"clientOrderId": "lost-1"})


async def test_hung_connection_trips_the_client_timeout(
    fresh_sim: SimServer, fresh_admin: AdminClient, make_exchange: ExchangeFactory
) -> None:
    creds = await fresh_admin.create_account({"USDT": "10000"})
    ex = make_exchange(fresh_sim, creds, timeout=400)
    await ex.load_markets()
    await fresh_admin.add_fault("hang", method="POST", path=ORDER, count=1)
    started = time.monotonic()
    with pytest.raises(ccxt.RequestTimeout):
        await ex.create_order("BTC/USDT", "market", "buy", 0.001)
    assert 0.35 < time.monotonic() - started < 2
    assert await fresh_admin.orders(creds.api_key) == []
    assert (await ex.create_order("BTC/USDT", "market", "buy", 0.001))["status"] == "closed"


async def test_faults_can_target_one_api_key(
    fresh_sim: SimServer, fresh_admin: AdminClient, make_exchange: ExchangeFactory
) -> None:
    victim = await fresh_admin.create_account({"USDT": "100"})
    bystander = await fresh_admin.create_account({"USDT": "100"})
    await fresh_admin.add_fault("http_5xx", api_key=victim.api_key, status=500)
    with pytest.raises(ccxt.ExchangeNotAvailable):
        await make_exchange(fresh_sim, victim).fetch_balance()
    assert (await make_exchange(fresh_sim, bystander).fetch_balance())["USDT"]["total"] == 100


async def _fired_pattern(server: SimServer, signed: Any, requests: int) -> list[bool]:
    async with server.admin() as admin:
        await admin.add_fault("http_5xx", path="/api/v3/ping", probability=0.5, seed=1234)
        pattern = []
        for _ in range(requests):
            pattern.append((await signed(server.base_url, "GET", "/api/v3/ping")).status == 503)
        [rule] = await admin.faults()
        assert rule["matched"] == requests and rule["fired"] == sum(pattern)
        return pattern


async def test_seeded_probability_fires_reproducibly(signed: Any) -> None:
    patterns = []
    for _ in range(2):
        async with running_sim(SimConfig(seed=1)) as server:
            patterns.append(await _fired_pattern(server, signed, 24))
    assert patterns[0] == patterns[1]
    assert 0 < sum(patterns[0]) < 24


async def test_clearing_faults_restores_normal_service(
    fresh_sim: SimServer, fresh_admin: AdminClient, signed: Any
) -> None:
    await fresh_admin.add_fault("http_5xx")
    assert (await signed(fresh_sim.base_url, "GET", "/api/v3/time")).status == 503
    assert (await fresh_admin.stats())["faults"][0]["fired"] == 1
    await fresh_admin.clear_faults()
    assert (await signed(fresh_sim.base_url, "GET", "/api/v3/time")).status == 200
    assert await fresh_admin.faults() == []


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "meteor"},
        {"kind": "latency", "probability": 2},
        {"kind": "http_5xx", "status": 404},
    ],
)
async def test_malformed_fault_specs_are_rejected(
    fresh_admin: AdminClient, spec: dict[str, Any]
) -> None:
    with pytest.raises(AdminAPIError) as exc:
        await fresh_admin.request("POST", "/admin/faults", spec)
    assert exc.value.status == 400
