"""The rendered Envoy bootstrap is valid for the real Envoy and routes only public services."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import httpx
import pytest

from gateway import envoy
from gateway.contract import load_descriptor_set, public_services
from mesh.settings import Settings
from tests.gateway.gateway_support import DEAD_UPSTREAMS, gateway


def rendered(settings: Settings, tmp_path: Path) -> tuple[Path, dict]:  # type: ignore[type-arg]
    upstreams = {s: [("127.0.0.1", 1)] for s in ("credential_svc", "trading_svc", "analysis_svc")}
    path = envoy.write_bootstrap(envoy.gateway_config(settings, upstreams), tmp_path / "envoy.json")
    return path, json.loads(path.read_text())


def test_envoy_validates_the_bootstrap(settings: Settings, tmp_path: Path) -> None:
    path, _ = rendered(settings, tmp_path)
    result = envoy.validate(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout + result.stderr
    # A deprecated field is one the next Envoy release may refuse to load.
    assert "Deprecated field" not in result.stdout + result.stderr


def test_internal_services_have_no_route(settings: Settings, tmp_path: Path) -> None:
    _, config = rendered(settings, tmp_path)
    text = json.dumps(config)
    assert "InternalCredentialService" not in text
    assert "AdminService" not in text
    assert "/botmesh.credential.v1.MarketplaceService/" in text
    names = {s.full_name for s in public_services(load_descriptor_set())}
    assert names == {
        "botmesh.credential.v1.CredentialService",
        "botmesh.credential.v1.MarketplaceService",
        "botmesh.credential.v1.SubscriptionService",
        "botmesh.trading.v1.TradingService",
        "botmesh.trading.v1.MarketDataService",
        "botmesh.analysis.v1.AnalysisService",
    }


def test_streaming_routes_have_no_timeout_and_unary_routes_do(
    settings: Settings, tmp_path: Path
) -> None:
    _, config = rendered(settings, tmp_path)
    manager = config["staticResources"]["listeners"][0]["filterChains"][0]["filters"][0][
        "typedConfig"
    ]
    routes = manager["routeConfig"]["virtualHosts"][0]["routes"]
    by_match = {
        r["match"].get("path") or r["match"]["prefix"]: r["route"]["timeout"]
        for r in routes
        if "route" in r
    }
    assert by_match["/botmesh.trading.v1.MarketDataService/StreamPrices"] == "0s"
    assert by_match["/botmesh.trading.v1.TradingService/StreamEvents"] == "0s"
    assert by_match["/botmesh.credential.v1.MarketplaceService/"] == "15s"


def test_listener_is_dual_stack_and_admin_is_loopback(settings: Settings, tmp_path: Path) -> None:
    _, config = rendered(settings, tmp_path)
    listener = config["staticResources"]["listeners"][0]["address"]["socketAddress"]
    assert listener["address"] == "::" and listener["ipv4Compat"] is True
    assert config["admin"]["address"]["socketAddress"]["address"] == "127.0.0.1"


def test_on_a_host_without_ipv6_the_listener_binds_ipv4_only(
    settings: Settings, tmp_path: Path
) -> None:
    """BOTMESH_ENVOY_ADDRESS=0.0.0.0: no "::" socket (which such a host cannot open) and no
    IPv4 compatibility flag, which only an IPv6 socket has."""
    ipv4 = dataclasses.replace(settings, envoy_address="0.0.0.0")
    path, config = rendered(ipv4, tmp_path)
    listener = config["staticResources"]["listeners"][0]["address"]["socketAddress"]
    assert listener["address"] == "0.0.0.0" and not listener.get("ipv4Compat")
    assert envoy.validate(path).returncode == 0


def test_an_ipv4_listener_serves_ipv4_and_opens_no_ipv6_socket(
    settings: Settings, tmp_path: Path
) -> None:
    ipv4 = dataclasses.replace(settings, envoy_address="127.0.0.1")
    with gateway(ipv4, tmp_path, DEAD_UPSTREAMS) as url:
        assert httpx.get(f"{url}/openapi.json").status_code == 200
        port = int(url.rsplit(":", 1)[1])
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://[::1]:{port}/openapi.json")


def test_transcoder_options(settings: Settings, tmp_path: Path) -> None:
    _, config = rendered(settings, tmp_path)
    manager = config["staticResources"]["listeners"][0]["filterChains"][0]["filters"][0][
        "typedConfig"
    ]
    assert manager["routeConfig"]["internalOnlyHeaders"] == ["x-botmesh-internal"]
    filters = {f["name"]: f["typedConfig"] for f in manager["httpFilters"]}
    transcoder = filters["envoy.filters.http.grpc_json_transcoder"]
    assert transcoder["convertGrpcStatus"] is True
    assert transcoder["printOptions"]["preserveProtoFieldNames"] is True
    assert transcoder["requestValidationOptions"]["rejectUnknownMethod"] is True
    assert transcoder["requestValidationOptions"]["rejectUnknownQueryParameters"] is True
    assert transcoder["maxRequestBodySize"] == 65536
    assert list(filters)[-1] == "envoy.filters.http.router"


def test_access_logs_leave_out_query_strings(settings: Settings, tmp_path: Path) -> None:
    """SSE routes carry dashboard tokens as ?access_token=: logged paths have no query."""
    _, config = rendered(settings, tmp_path)
    manager = config["staticResources"]["listeners"][0]["filterChains"][0]["filters"][0][
        "typedConfig"
    ]
    fmt = manager["accessLog"][0]["typedConfig"]["logFormat"]["jsonFormat"]
    assert fmt["path"] == "%PATH(NQ:ORIG_OR_PATH)%"
    assert not any(
        "REQ(:PATH" in v or "ORIGINAL-PATH" in v for v in fmt.values() if isinstance(v, str)
    )
