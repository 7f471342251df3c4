"""Crash mid-order (issue 4): trading_svc is killed with SIGKILL between sending an order and
hearing back, and a fresh process's reconciliation brings the order to its true state, with
exactly one exchange order, every fill stored once and the exchange's balances equal to our
fills.

The session's trading_svc (the `mesh` fixture's) is left alone: each case starts its own
`python -m trading_svc` processes on their own ports, against the same MariaDB, Redis,
credential_svc and exchange_sim. The order's POST is held in flight, and the process is killed
once the request has left it:

- accepted: the exchange places the order, then never answers (`hang`, execute);
- late: the request reaches the exchange only after the restart, within recvWindow, so a
  fresh process that resubmitted on a guess would make a second order. exchange_sim's own
  `latency` fault cannot play this (it reads the body after the delay, and the killed
  sender's connection is gone by then), so a small proxy in front of the sim holds the
  request and delivers it on its own connection, as a network would;
- lost: the request never executes (`hang`), so only once the signed request is older than
  recvWindow may the order be sent again, under the same client order id.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from aiohttp import ClientSession, web
from botmesh.trading.v1 import resources_pb2 as pb
from botmesh.trading.v1 import trading_service_pb2 as api
from botmesh.trading.v1 import trading_service_pb2_grpc as rpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cli.launcher import free_port, mesh_env
from exchange_sim import AdminClient, SimServer
from mesh.settings import ROOT
from mesh.tables import audit_log
from tests.e2e.trading_support import Account, open_account
from tests.support import RECV_WINDOW_MS
from trading_svc.orders.model import SUBMITTING, TERMINAL
from trading_svc.tables import orders, trades

QUANTITY = Decimal("0.001")
FUNDS = Decimal("10000")
# The late request reaches the exchange this long after it was sent: after the restart,
# before recvWindow runs out.
LATE_MS = 4500
SETTLE_S = 20.0
START_S = 20.0


@dataclass
class Processes:
    """trading_svc processes this test started, and only those."""

    log_dir: Path
    running: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, name: str, **env: str) -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        overrides = {
            "BOTMESH_TRADING_PORT": str(port),
            "BOTMESH_METRICS_PORT": "0",
            "BOTMESH_EXCHANGE_RECV_WINDOW_MS": str(RECV_WINDOW_MS),
            # Unsettled orders found at start-up are looked at again this often.
            "BOTMESH_RECONCILE_INTERVAL_S": "1",
            **env,
        }
        log = (self.log_dir / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "trading_svc"],
            env=mesh_env(overrides),
            stdout=log,
            stderr=log,
            cwd=ROOT,
            start_new_session=True,
        )
        log.close()
        self.running.append(proc)
        return proc, f"127.0.0.1:{port}"

    async def stop(self) -> None:
        for proc in self.running:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
        for proc in self.running:
            # In a thread: exchange_sim serves from this loop and must keep answering.
            if not await _exited(proc, 10):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                await _exited(proc, 10)
        self.running.clear()

    def logs(self) -> str:
        return "".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}\n"
            for p in sorted(self.log_dir.glob("*.log"))
        )


async def _exited(proc: subprocess.Popen[bytes], timeout_s: float) -> bool:
    try:
        await asyncio.to_thread(proc.wait, timeout_s)
    except subprocess.TimeoutExpired:
        return False
    return True


@pytest.fixture
async def procs(tmp_path: Path) -> AsyncIterator[Processes]:
    running = Processes(tmp_path)
    try:
        yield running
    finally:
        await running.stop()


class LateProxy:
    """Forwards a trading_svc's exchange traffic to exchange_sim, holding order POSTs for
    `delay_ms` first: a request in flight on the network lands whatever became of its
    sender."""

    HOP = frozenset({"host", "content-length", "transfer-encoding", "connection"})

    def __init__(self, upstream: str, delay_ms: int) -> None:
        self._upstream = upstream
        self._delay_s = delay_ms / 1000
        self._session = ClientSession()
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.held = 0  # order requests received and being held
        self.landed = 0  # held requests delivered to the exchange

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()  # all of it, before the sender can vanish
        headers = {k: v for k, v in request.headers.items() if k.lower() not in self.HOP}
        forward = self._forward(request.method, request.path_qs, headers, body)
        if request.method == "POST" and request.path == "/api/v3/order":
            self.held += 1
            forward = self._late(forward)
        return await asyncio.shield(forward)

    async def _late(self, forward: Any) -> web.Response:
        await asyncio.sleep(self._delay_s)
        try:
            return await forward  # type: ignore[no-any-return]
        finally:
            self.landed += 1

    async def _forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> web.Response:
        async with self._session.request(
            method, self._upstream + path, headers=headers, data=body
        ) as resp:
            return web.Response(
                status=resp.status, body=await resp.read(), content_type=resp.content_type
            )

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        await self._session.close()


@pytest.fixture
async def admin(exchange_sim: SimServer) -> AsyncIterator[AdminClient]:
    async with exchange_sim.admin() as client:
        yield client


async def _serving(proc: subprocess.Popen[bytes], target: str) -> None:
    deadline = time.monotonic() + START_S
    # grpc's default reconnect backoff (1 s, growing) would notice the new server seconds
    # late, longer than the crash cases' premise allows; probe it every 0.1 s instead.
    options = [
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 200),
    ]
    async with grpc.aio.insecure_channel(target, options=options) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"trading_svc exited with {proc.returncode}"
            with contextlib.suppress(grpc.RpcError):
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            await asyncio.sleep(0.1)
    raise TimeoutError(f"trading_svc at {target} did not serve within {START_S:.0f}s")


async def _start(procs: Processes, name: str, **env: str) -> tuple[subprocess.Popen[bytes], str]:
    proc, target = procs.start(name, **env)
    await _serving(proc, target)
    return proc, target


async def _rows(engine: Any, sub_id: str) -> list[Any]:
    async with engine.connect() as conn:
        return list(
            (await conn.execute(sa.select(orders).where(orders.c.subscription_id == sub_id))).all()
        )


async def _until(probe: Any, what: str, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = await probe()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{what} not seen within {timeout_s:.0f}s")


async def _crash_mid_order(
    procs: Processes,
    engine: Any,
    admin: AdminClient,
    account: Account,
    fault: dict[str, Any] | None = None,
    sent: Callable[[], Awaitable[bool]] | None = None,
    **env: str,
) -> tuple[Any, list[dict[str, Any]]]:
    """Places a market buy on a process of our own and kills it with SIGKILL once the order
    is SUBMITTING and its request has left (the fault rule fired, or `sent()`), and for
    `accepted` is placed on the exchange; then removes the fault. Returns the order row as
    the crash left it and the exchange's orders at that moment."""
    fault = fault or {}
    rule = (
        await admin.add_fault(
            method="POST", path="/api/v3/order", api_key=account.sim.api_key, **fault
        )
        if fault
        else None
    )

    async def fired() -> bool:
        if rule is None:
            return True
        return any(r["id"] == rule["id"] and r["fired"] for r in await admin.faults())

    # A timeout far beyond the fault: the process is still waiting when it dies.
    first, target = await _start(procs, "first", BOTMESH_EXCHANGE_TIMEOUT_MS="60000", **env)
    request = api.PlaceOrderRequest(
        subscription_id=account.subscription_id,
        side=pb.ORDER_SIDE_BUY,
        type=pb.ORDER_TYPE_MARKET,
        quantity=str(QUANTITY),
    )
    async with grpc.aio.insecure_channel(target) as channel:
        call = asyncio.ensure_future(
            rpc.TradingServiceStub(channel).PlaceOrder(
                request, metadata=tuple(account.headers.items()), timeout=60
            )
        )

        async def submitting() -> Any:
            assert not call.done(), call.result()  # it must still be waiting
            rows = await _rows(engine, account.subscription_id)
            return rows[0] if rows and rows[0].state == SUBMITTING else None

        row = await _until(submitting, "the order SUBMITTING", 15)
        await _until(sent or fired, "the order request sent", 5)
        if fault.get("execute"):
            await _until(
                lambda: admin.orders(account.sim.api_key, client_order_id=row.client_order_id),
                "the order on the exchange",
                5,
            )
        assert not call.done()
        os.kill(first.pid, signal.SIGKILL)
        with pytest.raises(grpc.RpcError) as failed:
            await call
        assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    assert await _exited(first, 5)
    assert first.returncode == -signal.SIGKILL
    if rule is not None:
        await admin.request("DELETE", f"/admin/faults/{rule['id']}")
    (left,) = await _rows(engine, account.subscription_id)
    assert left.state == SUBMITTING, left.state  # the crash left it unsettled
    return left, await admin.orders(account.sim.api_key, client_order_id=left.client_order_id)


async def _true(value: object) -> bool:
    return bool(value)


async def _settled(engine: Any, sub_id: str) -> Any:
    async def terminal() -> Any:
        (row,) = await _rows(engine, sub_id)
        return row if row.state in TERMINAL else None

    return await _until(terminal, "a terminal state", SETTLE_S)


async def _check_true_state(engine: Any, admin: AdminClient, account: Account, row: Any) -> Any:
    """The order is FILLED, with one exchange order, the exchange's fills stored once each,
    the account's balances on the exchange equal to our fills, and its `order.place` on the
    audit chain once (written alongside the send, or by the reconciler after the crash).
    Returns the exchange order."""
    assert row.state == "FILLED", (row.state, row.reject_reason)
    assert row.filled_quantity == QUANTITY
    on_exchange = await admin.orders(account.sim.api_key)
    assert [o["clientOrderId"] for o in on_exchange] == [row.client_order_id]
    (placed,) = on_exchange
    assert placed["status"] == "FILLED"
    assert str(placed["orderId"]) == row.exchange_order_id

    fills = await admin.trades(account.sim.api_key)
    async with engine.connect() as conn:
        ours = (
            await conn.execute(sa.select(trades).where(trades.c.order_id == row.order_id))
        ).all()
    assert sorted(t.exchange_trade_id for t in ours) == sorted(str(f["id"]) for f in fills)
    assert {str(f["orderId"]) for f in fills} == {row.exchange_order_id}
    assert sum(t.quantity for t in ours) == QUANTITY

    async with engine.connect() as conn:
        placed_rows = (
            await conn.execute(
                sa.select(audit_log.c.seq).where(
                    audit_log.c.resource == row.order_id, audit_log.c.action == "order.place"
                )
            )
        ).all()
    assert len(placed_rows) == 1

    balances = (await admin.account(account.sim.api_key))["balances"]
    spent = sum(t.price * t.quantity + t.fee for t in ours)
    assert Decimal(balances["BTC"]["free"]) == QUANTITY
    usdt = Decimal(balances["USDT"]["free"]) + Decimal(balances["USDT"]["locked"])
    assert usdt == FUNDS - spent
    return placed


@contextlib.contextmanager
def _logs_on_failure(procs: Processes) -> Iterator[None]:
    try:
        yield
    except BaseException:
        print(procs.logs())
        raise


async def _account(rest: Any, keys: dict[str, str], engine: Any, admin: AdminClient) -> Account:
    return await open_account(
        rest, keys, engine, admin, funds={"USDT": str(FUNDS)}, allocation=str(FUNDS)
    )


async def test_order_accepted_before_the_crash_is_found_not_resent(
    rest: Any, keys: dict[str, str], engine: Any, admin: AdminClient, procs: Processes
) -> None:
    account = await _account(rest, keys, engine, admin)
    with _logs_on_failure(procs):
        row, on_exchange = await _crash_mid_order(
            procs, engine, admin, account, {"kind": "hang", "execute": True, "hang_ms": 15000}
        )
        assert len(on_exchange) == 1  # placed, and we never heard

        await _start(procs, "restarted")
        settled = await _settled(engine, account.subscription_id)
        await _check_true_state(engine, admin, account, settled)
        assert settled.order_id == row.order_id


async def test_request_arriving_after_the_restart_is_not_doubled(
    rest: Any,
    keys: dict[str, str],
    engine: Any,
    admin: AdminClient,
    procs: Processes,
    exchange_sim: SimServer,
) -> None:
    account = await _account(rest, keys, engine, admin)
    proxy = LateProxy(exchange_sim.base_url, LATE_MS)
    await proxy.start()
    try:
        with _logs_on_failure(procs):
            row, on_exchange = await _crash_mid_order(
                procs,
                engine,
                admin,
                account,
                sent=lambda: _true(proxy.held),
                BOTMESH_EXCHANGE_SIM_URL=proxy.url,
            )
            assert on_exchange == []

            await _start(procs, "restarted")
            # The case's premise: the restarted process is up while the request is in flight.
            assert proxy.landed == 0, "restart slower than LATE_MS"
            settled = await _settled(engine, account.subscription_id)
            # Judged once the request in flight has landed: a resend would show by then.
            await _until(lambda: _true(proxy.landed), "the late request", LATE_MS / 1000)
            placed = await _check_true_state(engine, admin, account, settled)
            # The one exchange order is the original request, landed late.
            sent_ms = row.update_time.timestamp() * 1000
            assert sent_ms + LATE_MS <= placed["time"] < sent_ms + RECV_WINDOW_MS
    finally:
        await proxy.close()


async def test_request_lost_in_the_crash_is_resent_only_once_provably_dead(
    rest: Any, keys: dict[str, str], engine: Any, admin: AdminClient, procs: Processes
) -> None:
    account = await _account(rest, keys, engine, admin)
    with _logs_on_failure(procs):
        row, on_exchange = await _crash_mid_order(
            procs, engine, admin, account, {"kind": "hang", "hang_ms": 15000}
        )
        assert on_exchange == []

        await _start(procs, "restarted")
        settled = await _settled(engine, account.subscription_id)
        placed = await _check_true_state(engine, admin, account, settled)
        # Sent again under the same client order id, and not before the original signed
        # request was older than recvWindow.
        assert placed["clientOrderId"] == row.client_order_id
        assert placed["time"] >= row.update_time.timestamp() * 1000 + RECV_WINDOW_MS
