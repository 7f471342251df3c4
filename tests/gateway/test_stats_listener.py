"""Envoy's stats listener in the rendered bootstrap: a listener of its own on the metrics
address and port, whose one route sends GET /metrics to the admin's /stats/prometheus on
loopback and answers everything else 404; port 0 leaves it (and its admin cluster) out.
The real Envoy accepts both shapes."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from gateway import envoy
from gateway.stats_listener import STATS_CLUSTER
from mesh.settings import Settings

UPSTREAMS = {s: [("127.0.0.1", 1)] for s in ("credential_svc", "trading_svc", "analysis_svc")}


def rendered(settings: Settings, tmp_path: Path, **changes: Any) -> tuple[Path, dict[str, Any]]:
    config = dataclasses.replace(envoy.gateway_config(settings, UPSTREAMS), **changes)
    path = envoy.write_bootstrap(config, tmp_path / "envoy.json")
    return path, json.loads(path.read_text())


def test_the_stats_listener_routes_only_get_metrics_to_the_admin_on_loopback(
    settings: Settings, tmp_path: Path
) -> None:
    path, config = rendered(settings, tmp_path, stats_address="0.0.0.0", stats_port=19902)
    listeners = {item["name"]: item for item in config["staticResources"]["listeners"]}
    assert set(listeners) == {"public", "stats"}
    address = listeners["stats"]["address"]["socketAddress"]
    assert (address["address"], address["portValue"]) == ("0.0.0.0", 19902)
    manager = listeners["stats"]["filterChains"][0]["filters"][0]["typedConfig"]
    metrics, rest = manager["routeConfig"]["virtualHosts"][0]["routes"]
    assert metrics["match"]["path"] == "/metrics"
    assert metrics["match"]["headers"] == [{"name": ":method", "stringMatch": {"exact": "GET"}}]
    assert metrics["route"]["cluster"] == STATS_CLUSTER
    assert metrics["route"]["prefixRewrite"] == "/stats/prometheus"
    assert rest == {"match": {"prefix": "/"}, "directResponse": {"status": 404}}
    (admin,) = [c for c in config["staticResources"]["clusters"] if c["name"] == STATS_CLUSTER]
    endpoint = admin["loadAssignment"]["endpoints"][0]["lbEndpoints"][0]["endpoint"]
    assert endpoint["address"]["socketAddress"] == {
        "address": "127.0.0.1",
        "portValue": settings.envoy_admin_port,
    }
    assert config["admin"]["address"]["socketAddress"]["address"] == "127.0.0.1"
    result = envoy.validate(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_port_zero_leaves_the_stats_listener_and_its_cluster_out(
    settings: Settings, tmp_path: Path
) -> None:
    path, config = rendered(settings, tmp_path, stats_port=0)
    assert [item["name"] for item in config["staticResources"]["listeners"]] == ["public"]
    assert STATS_CLUSTER not in {c["name"] for c in config["staticResources"]["clusters"]}
    result = envoy.validate(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_gateway_takes_the_metrics_address_and_envoy_metrics_port_from_settings(
    settings: Settings,
) -> None:
    config = envoy.gateway_config(
        dataclasses.replace(settings, metrics_address="::1", envoy_metrics_port=19903), UPSTREAMS
    )
    assert (config.stats_address, config.stats_port) == ("::1", 19903)
