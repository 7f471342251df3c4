"""Two trading_svc replicas behind Envoy (`botmesh up --replicas trading=2`): both serve,
each knows its replica id, and when one is SIGKILLed, REST calls through Envoy keep
succeeding on the survivor, including calls that reach trading_svc from analysis_svc over
the internal target listing both replicas. The killed replica starts again and serves.

A mesh of this test's own (tests/e2e/private_mesh.py), since it kills a process."""

from __future__ import annotations

import json

import httpx

from cli.launcher import Mesh
from tests.e2e.degraded_support import issue
from tests.e2e.private_mesh import PrivateMeshes, served_by

CALLS_AFTER_KILL = 20


def logged_replica_ids(mesh: Mesh, name: str) -> set[str]:
    ids = set()
    for line in (mesh.log_dir / f"{name}.log").read_text().splitlines():
        if line.startswith("{") and '"serving"' in line:
            ids.add(json.loads(line)["replica"])
    return ids


async def market_calls(rest: httpx.AsyncClient, key: str, n: int) -> list[int]:
    """`n` rounds of ticker and candles through Envoy, and analyses (analysis_svc reads
    candles from trading_svc), each with new parameters so no cache answers; their statuses."""
    headers = {"x-api-key": key}
    statuses = []
    for i in range(n):
        ticker = await rest.get("/v1/markets/BTC-USDT/ticker", headers=headers)
        candles = await rest.get(
            "/v1/markets/ETH-USDT/candles",
            params={"timeframe": "1m", "page_size": 5 + i},
            headers=headers,
        )
        analysis = await rest.post(
            "/v1/analysis:analyze",
            json={
                "market": "BTC-USDT",
                "timeframe": "1m",
                "strategy": {"name": "rsi_mean_reversion", "params": {"period": str(5 + i)}},
            },
            headers=headers,
        )
        for resp in (ticker, candles, analysis):
            assert resp.status_code == 200, (resp.request.url, resp.status_code, resp.text)
            statuses.append(resp.status_code)
    return statuses


async def test_a_sigkilled_trading_replica_leaves_rest_calls_succeeding(
    private_meshes: PrivateMeshes,
) -> None:
    mesh = private_meshes.start(replicas={"trading_svc": 2})
    first, second = mesh.plan["trading_svc"]
    assert (first.name, second.name) == ("trading_svc-0", "trading_svc-1")
    assert logged_replica_ids(mesh, "trading_svc-0") == {"trading_svc-0"}
    assert logged_replica_ids(mesh, "trading_svc-1") == {"trading_svc-1"}
    key = await issue(mesh.settings, "read")
    async with httpx.AsyncClient(base_url=mesh.rest_url, timeout=30) as rest:
        await market_calls(rest, key, 4)
        assert served_by(mesh, "trading_svc") == {
            first.port,
            second.port,
        }  # Envoy spreads over both

        # Replica 0 is the first address of the internal target, where analysis_svc's
        # channel is connected: its death makes that channel move to the survivor.
        mesh.kill("trading_svc-0")
        assert mesh.processes["trading_svc-0"].returncode == -9
        assert len(await market_calls(rest, key, CALLS_AFTER_KILL)) == 3 * CALLS_AFTER_KILL

        mesh.start_replica("trading_svc-0")
        assert mesh.processes["trading_svc-0"].poll() is None
        mesh.kill("trading_svc-1")
        assert len(await market_calls(rest, key, CALLS_AFTER_KILL)) == 3 * CALLS_AFTER_KILL
