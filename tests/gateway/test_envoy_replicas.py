"""A service with replicas is one Envoy cluster listing every replica, health-checked over
gRPC, and a request no replica received is retried on another replica (and only such one)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gateway import envoy
from mesh.settings import Settings

UPSTREAMS = {
    "credential_svc": [("127.0.0.1", 50051)],
    "trading_svc": [("127.0.0.1", 50052), ("127.0.0.1", 50062)],
    "analysis_svc": [("127.0.0.1", 50053), ("127.0.0.1", 50063), ("127.0.0.1", 50073)],
}


def rendered(settings: Settings, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    config = envoy.gateway_config(settings, UPSTREAMS)
    path = envoy.write_bootstrap(config, tmp_path / "envoy.json")
    return path, json.loads(path.read_text())


def cluster(config: dict[str, Any], name: str) -> dict[str, Any]:
    found = [c for c in config["staticResources"]["clusters"] if c["name"] == name]
    assert len(found) == 1
    return found[0]


def ports(config: dict[str, Any], name: str) -> list[int]:
    groups = cluster(config, name)["loadAssignment"]["endpoints"]
    return [
        e["endpoint"]["address"]["socketAddress"]["portValue"]
        for group in groups
        for e in group["lbEndpoints"]
    ]


def test_envoy_accepts_clusters_with_several_replicas(settings: Settings, tmp_path: Path) -> None:
    path, _ = rendered(settings, tmp_path)
    result = envoy.validate(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_cluster_lists_every_replica_and_health_checks_them(
    settings: Settings, tmp_path: Path
) -> None:
    _, config = rendered(settings, tmp_path)
    assert ports(config, "credential_svc") == [50051]
    assert ports(config, "trading_svc") == [50052, 50062]
    assert ports(config, "analysis_svc") == [50053, 50063, 50073]
    for name in UPSTREAMS:
        (check,) = cluster(config, name)["healthChecks"]
        assert "grpcHealthCheck" in check


def test_only_requests_no_replica_received_are_retried_on_another_replica(
    settings: Settings, tmp_path: Path
) -> None:
    _, config = rendered(settings, tmp_path)
    manager = config["staticResources"]["listeners"][0]["filterChains"][0]["filters"][0][
        "typedConfig"
    ]
    (host,) = manager["routeConfig"]["virtualHosts"]
    policy = host["retryPolicy"]
    assert set(policy["retryOn"].split(",")) == {
        "connect-failure",
        "refused-stream",
        "reset-before-request",
    }
    (predicate,) = policy["retryHostPredicate"]
    assert predicate["name"] == "envoy.retry_host_predicates.previous_hosts"
    assert int(policy["numRetries"]) >= 1
