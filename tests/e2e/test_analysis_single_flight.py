"""Single-flight across the cluster: 1,000 concurrent Analyze calls for one decision, split
over TWO analysis_svc processes, make ONE advisor call.

Real parts only: two `python -m analysis_svc` processes sharing the run's MariaDB and Redis,
the mesh's trading_svc for candles (ListCandles over the run's exchange_sim), and one local
OpenAI-compatible server in its own process (`python -m analysis_svc.llm_fake`) whose /_calls
endpoint counts what reached it. The model answers slowly, so every call arrives while the
first one is still being computed.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import httpx
import pytest
from botmesh.analysis.v1 import analysis_service_pb2 as api
from botmesh.analysis.v1 import analysis_service_pb2_grpc as rpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cli.launcher import Mesh, free_port, mesh_env, port_open
from mesh.settings import ROOT, Settings

CALLS = 1_000
MODEL_DELAY_S = 0.5
# The cluster's own Redis database: every test session flushes the shared test database when
# it starts, and a session starting mid-test (other runs share this machine) would wipe the
# decision and its lock, and make a correct cluster call the model twice.
REDIS_URL = "redis://127.0.0.1:6379/11"


async def _healthy(target: str) -> bool:
    try:
        async with grpc.aio.insecure_channel(target) as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=1
            )
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
    except grpc.RpcError:
        return False


async def _wait(ready: Callable[[], Awaitable[bool]], procs: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        dead = [p.args for p in procs if p.poll() is not None]
        assert not dead, f"exited: {dead}"
        if await ready():
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("process did not become ready")


class Cluster:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.procs: list[subprocess.Popen[bytes]] = []
        self.llm_url = ""
        self.targets: list[str] = []

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        logs = self.settings.state_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        out = (logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=out, cwd=ROOT)
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        """SIGTERM to each process this fixture started (by pid), then wait."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
async def cluster(settings: Settings, exchange_sim: object, mesh: Mesh) -> AsyncIterator[Cluster]:
    """A fake LLM process and two analysis_svc processes configured with it; they read
    candles from the mesh's trading_svc (settings.trading), as server.py does by default."""
    running = Cluster(settings)
    try:
        llm_port = free_port()
        running.spawn(
            "llm_fake",
            [sys.executable, "-m", "analysis_svc.llm_fake", "--port", str(llm_port)],
            mesh_env(),
        )
        await _wait(lambda: asyncio.to_thread(port_open, "127.0.0.1", llm_port), running.procs)
        running.llm_url = f"http://127.0.0.1:{llm_port}"
        chain = {
            # A tag unique to this run keeps its decisions apart from any earlier run's.
            "endpoints": [
                {
                    "name": "llm",
                    "base_url": f"{running.llm_url}/v1",
                    "model": f"fake-{uuid.uuid4().hex[:8]}",
                    "timeout_s": 5,
                }
            ],
            "consult_on_hold": True,  # the model is asked whatever the candle says
        }
        for i in range(2):
            port = free_port()
            env = mesh_env(
                {
                    "BOTMESH_ANALYSIS_PORT": str(port),
                    "BOTMESH_REDIS_URL": REDIS_URL,
                    # A thousand calls of one key at once is this test's point, not abuse.
                    "BOTMESH_RATE_LIMIT_PER_S": "100000",
                    "BOTMESH_LLM_ENDPOINTS": json.dumps(chain),
                    "BOTMESH_METRICS_PORT": "0",
                }
            )
            running.spawn(f"analysis_svc_sf{i}", [sys.executable, "-m", "analysis_svc"], env)
            running.targets.append(f"127.0.0.1:{port}")
        for target in running.targets:
            await _wait(lambda t=target: _healthy(t), running.procs)  # type: ignore[misc]
        yield running
    finally:
        running.stop()


async def test_a_thousand_calls_over_two_processes_make_one_advisor_call(
    cluster: Cluster, issue_key: Callable[..., Awaitable[tuple[str, str]]]
) -> None:
    _, key = await issue_key("read", name="single-flight")
    async with httpx.AsyncClient(base_url=cluster.llm_url) as llm:
        script = {"reset": True, "default": {"kind": "slow", "delay_s": MODEL_DELAY_S}}
        assert (await llm.post("/_script", json=script)).status_code == 200

        request = api.AnalyzeRequest(
            market="BTC-USDT",
            timeframe="1d",  # one candle a day: the test cannot straddle a candle close
            strategy=api.StrategySpec(name="macd_cross", params={"fast": "8"}),
            use_advisor=True,
        )
        metadata = (("x-api-key", key),)
        channels = [grpc.aio.insecure_channel(t) for t in cluster.targets]
        try:
            stubs = [rpc.AnalysisServiceStub(c) for c in channels]
            replies = await asyncio.gather(
                *(
                    stubs[i % 2].Analyze(request, metadata=metadata, timeout=60)
                    for i in range(CALLS)
                )
            )
        finally:
            for channel in channels:
                await channel.close()
        calls = (await llm.get("/_calls")).json()

    advisors = {r.advisor for r in replies}
    assert calls["count"] == 1, (calls, advisors, {r.candle_time.seconds for r in replies})
    assert advisors == {"llm"}
    assert sum(not r.cached for r in replies) == 1  # one computed; 999 served the result
    assert len({r.candle_time.seconds for r in replies}) == 1
    assert len({r.signal.SerializeToString() for r in replies}) == 1
