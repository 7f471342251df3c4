"""Helpers for the credential-lifecycle e2e tests: a second trading_svc process (started by
pid, stopped by pid), orders placed through Envoy (process one) and over gRPC straight to
process two, and readers of the exchange, the order and audit tables and the logs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc
import httpx
import sqlalchemy as sa
from botmesh.trading.v1 import resources_pb2 as tpb
from botmesh.trading.v1 import trading_service_pb2 as tapi
from botmesh.trading.v1 import trading_service_pb2_grpc as trpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cli.launcher import free_port, mesh_env
from mesh.ids import new_id
from mesh.settings import ROOT
from mesh.tables import audit_log
from tests.e2e.trading_support import Account, idem
from tests.e2e.vault_support import grpc_reason
from trading_svc.tables import orders

# The promise under test: a stopped credential is out of use in every process within this.
WITHIN_S = 2.0


async def wait_serving(proc: subprocess.Popen[bytes], target: str, log: Path) -> None:
    """Waits until a service process of a test's own answers SERVING (its log tail if it
    exits first)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = await asyncio.to_thread(log.read_text, errors="replace")
            raise AssertionError(f"exited with {proc.returncode}: {tail[-3000:]}")
        with contextlib.suppress(grpc.RpcError):
            async with grpc.aio.insecure_channel(target) as channel:
                reply = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=1
                )
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"the service at {target} did not become ready")


@dataclass
class TradingProcess:
    """A trading_svc process of this test's own, beside the mesh's."""

    proc: subprocess.Popen[bytes]
    target: str
    log: Path

    @classmethod
    def start(cls, log_dir: Path, **env: str) -> TradingProcess:
        port = free_port()
        log = log_dir / f"trading_svc_lifecycle_{port}.log"
        overrides = {"BOTMESH_TRADING_PORT": str(port), "BOTMESH_METRICS_PORT": "0", **env}
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "trading_svc"],
                env=mesh_env(overrides),
                stdout=out,
                stderr=out,
                cwd=ROOT,
                start_new_session=True,
            )
        return cls(proc, f"127.0.0.1:{port}", log)

    async def wait_ready(self) -> None:
        await wait_serving(self.proc, self.target, self.log)

    async def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)
        try:
            await asyncio.to_thread(self.proc.wait, 10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)
            await asyncio.to_thread(self.proc.wait, 10)


@dataclass(frozen=True)
class Answer:
    """One order attempt's outcome, from either process: the order's state, or the error's
    reason."""

    state: str = ""
    reason: str = ""
    order_id: str = ""


async def place_rest(
    rest: httpx.AsyncClient, account: Account, *, price: str | None = None
) -> Answer:
    body = {"side": "ORDER_SIDE_BUY", "quantity": "0.001"}
    body["type"] = "ORDER_TYPE_LIMIT" if price else "ORDER_TYPE_MARKET"
    if price:
        body["price"] = price
    resp = await rest.post(account.path("/orders"), json=body, headers=idem(account.headers))
    assert resp.status_code < 500, resp.text
    if resp.status_code != 200:
        info = next(d for d in resp.json()["details"] if d["@type"].endswith("ErrorInfo"))
        return Answer(reason=info["reason"])
    order = resp.json()["order"]
    return Answer(state=order["state"].removeprefix("ORDER_STATE_"), order_id=order["order_id"])


async def place_grpc(target: str, account: Account, *, price: str | None = None) -> Answer:
    request = tapi.PlaceOrderRequest(
        subscription_id=account.subscription_id,
        side=tpb.ORDER_SIDE_BUY,
        type=tpb.ORDER_TYPE_LIMIT if price else tpb.ORDER_TYPE_MARKET,
        quantity="0.001",
        price=price or "",
    )
    metadata = (*account.headers.items(), ("idempotency-key", new_id("idem")))
    async with grpc.aio.insecure_channel(target) as channel:
        try:
            reply = await trpc.TradingServiceStub(channel).PlaceOrder(
                request, metadata=metadata, timeout=20
            )
        except grpc.aio.AioRpcError as exc:
            assert exc.code() not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), exc
            return Answer(reason=grpc_reason(exc))
    state = tpb.OrderState.Name(reply.order.state).removeprefix("ORDER_STATE_")
    return Answer(state=state, order_id=reply.order.order_id)


def close_times(log: Path, credential_id: str) -> list[datetime]:
    """When the process logged closing its client of the credential, oldest first."""
    times = []
    for line in log.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            entry: dict[str, Any] = json.loads(line)
            if (
                entry.get("message") == "exchange client closed"
                and entry.get("credential_id") == credential_id
            ):
                times.append(datetime.fromisoformat(entry["time"]))
    return times


def closed_clients(log: Path, credential_id: str) -> int:
    """How often the process logged closing its client of the credential."""
    return len(close_times(log, credential_id))


async def wait_until_closed(
    logs: list[Path], credential_id: str, before: list[int], since: datetime
) -> float:
    """Waits until every process logged one more close of the credential's client, at most
    WITHIN_S; returns the seconds from `since` (the stopping call's answer) to the last of
    those closes, by the processes' own log clocks."""
    start = time.monotonic()
    while time.monotonic() - start < WITHIN_S:
        seen = [close_times(log, credential_id) for log in logs]
        if all(len(t) > b for t, b in zip(seen, before, strict=True)):
            return max((t[b] - since).total_seconds() for t, b in zip(seen, before, strict=True))
        await asyncio.sleep(0.05)
    raise AssertionError(f"clients of {credential_id} not closed in every process in {WITHIN_S}s")


async def order_states(engine: Any, subscription_id: str) -> dict[str, str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(orders.c.order_id, orders.c.state).where(
                orders.c.subscription_id == subscription_id
            )
        )
        return {r.order_id: r.state for r in rows}


async def audit_rows(engine: Any, resources: list[str]) -> list[tuple[str, str, dict[str, Any]]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(audit_log.c.action, audit_log.c.resource, audit_log.c.detail)
            .where(audit_log.c.resource.in_(resources))
            .order_by(audit_log.c.seq)
        )
        return [(r.action, r.resource, dict(r.detail)) for r in rows]
