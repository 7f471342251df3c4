"""Every process of the mesh exposes Prometheus metrics, on loopback, by default: a request
through Envoy is counted by the service that handled it (by method and status code) and by
Envoy (its upstream cluster), as a scrape of each during the test finds. Envoy's metrics come
from a stats listener that answers GET /metrics and nothing else, so its admin API stays
unreachable from there."""

from __future__ import annotations

import httpx
import pytest

from cli.launcher import Mesh
from tests.e2e.degraded_support import issue
from tests.e2e.metrics_support import scrape, scrape_all

# (REST path, the service's process, its method, its status code, the HTTP status), one per
# service; a refusal is counted like any other answer.
REQUESTS = [
    ("/v1/bots?page_size=1", "credential_svc", "ListBots", "OK", 200),
    ("/v1/markets/BTC-USDT/ticker", "trading_svc", "GetTicker", "OK", 200),
    ("/v1/subscriptions/sub_none/status", "trading_svc", "GetBotStatus", "PERMISSION_DENIED", 403),
    ("/v1/backtests/bt_none", "analysis_svc", "GetBacktest", "NOT_FOUND", 404),
]


def test_each_service_and_envoy_serve_metrics_on_a_port_of_their_own_on_loopback(
    mesh: Mesh,
) -> None:
    urls = mesh.metrics_urls
    assert set(urls) == {"credential_svc", "trading_svc", "analysis_svc", "envoy"}
    assert len({url for url in urls.values()}) == len(urls)
    assert all(url.startswith("http://127.0.0.1:") for url in urls.values())


@pytest.mark.parametrize(("path", "process", "method", "code", "http"), REQUESTS)
async def test_a_request_through_envoy_is_counted_by_its_service_and_by_envoy(
    mesh: Mesh,
    rest: httpx.AsyncClient,
    exchange_sim: object,
    path: str,
    process: str,
    method: str,
    code: str,
    http: int,
) -> None:
    key = await issue(mesh.settings, "read", "bots:write")
    labels = {"service": process, "method": method, "code": code}
    envoy_url = mesh.metrics_urls["envoy"]
    before = await scrape_all(mesh)

    resp = await rest.get(path, headers={"x-api-key": key})
    assert resp.status_code == http, resp.text

    after = await scrape_all(mesh)
    counted = after[process].value("botmesh_rpc_total", **labels)
    assert counted >= before[process].value("botmesh_rpc_total", **labels) + 1
    assert (
        after[process].value("botmesh_rpc_latency_seconds_count", service=process, method=method)
        >= 1
    )
    # Only the service that handled it counts it.
    for other in {"credential_svc", "trading_svc", "analysis_svc"} - {process}:
        assert after[other].value("botmesh_rpc_total", method=method) == 0
    upstream = "envoy_cluster_upstream_rq_total"
    assert (
        after["envoy"].value(upstream, envoy_cluster_name=process)
        >= before["envoy"].value(upstream, envoy_cluster_name=process) + 1
    )
    scraped = await scrape(envoy_url)
    assert (
        scraped.value("envoy_http_downstream_rq_total", envoy_http_conn_manager_prefix="ingress")
        >= 1
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/stats"),
        ("GET", "/clusters"),
        ("GET", "/config_dump"),
        ("POST", "/quitquitquit"),
        ("POST", "/logging?level=trace"),
        ("POST", "/metrics"),
        ("GET", "/stats/prometheus"),
    ],
)
async def test_envoys_stats_listener_answers_only_get_metrics_never_the_admin_api(
    mesh: Mesh, method: str, path: str
) -> None:
    base = mesh.metrics_urls["envoy"].removesuffix("/metrics")
    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.request(method, base + path)
        assert resp.status_code == 404
        assert "envoy_" not in resp.text
        # Envoy is still up and still serving metrics.
        alive = await client.get(base + "/metrics")
    assert alive.status_code == 200 and "envoy_server_live" in alive.text
