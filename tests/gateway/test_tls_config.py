"""TLS in the rendered bootstrap (gateway/tls.py): the real Envoy accepts it; the public
listener is TLS 1.3 with h2 and http/1.1 by ALPN only when the edge has a certificate; the
clusters speak mutual TLS only when internal TLS is set."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from cli.dev_ca import ensure_dev_certificates
from gateway import envoy
from gateway.stats_listener import STATS_CLUSTER
from mesh.settings import Settings

UPSTREAMS = {s: [("127.0.0.1", 1)] for s in ("credential_svc", "trading_svc", "analysis_svc")}


def with_tls(settings: Settings, state: Path, *, internal: bool) -> Settings:
    certs = ensure_dev_certificates(state)
    changes = {
        "tls_cert_file": str(certs.server_cert_file),
        "tls_key_file": str(certs.server_key_file),
    }
    if internal:
        changes |= {
            "internal_tls_ca_file": str(certs.ca_file),
            "internal_tls_cert_file": str(certs.internal_cert_file),
            "internal_tls_key_file": str(certs.internal_key_file),
        }
    return dataclasses.replace(settings, **changes)


def rendered(settings: Settings, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    config = envoy.gateway_config(settings, UPSTREAMS)
    path = envoy.write_bootstrap(config, tmp_path / "envoy.json")
    return path, json.loads(path.read_text())


def listener_socket(config: dict[str, Any]) -> dict[str, Any] | None:
    chain: dict[str, Any] = config["staticResources"]["listeners"][0]["filterChains"][0]
    return chain.get("transportSocket")


def test_without_certificates_everything_is_plaintext(settings: Settings, tmp_path: Path) -> None:
    _, config = rendered(settings, tmp_path)
    assert listener_socket(config) is None
    assert all("transportSocket" not in c for c in config["staticResources"]["clusters"])


def test_the_public_listener_is_tls13_with_h2_and_http11(
    settings: Settings, tmp_path: Path
) -> None:
    tls = with_tls(settings, tmp_path / "state", internal=False)
    path, config = rendered(tls, tmp_path)
    result = envoy.validate(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Deprecated field" not in result.stdout + result.stderr
    socket = listener_socket(config)
    assert socket is not None and socket["name"] == "envoy.transport_sockets.tls"
    common = socket["typedConfig"]["commonTlsContext"]
    assert common["tlsParams"]["tlsMinimumProtocolVersion"] == "TLSv1_3"
    assert common["alpnProtocols"] == ["h2", "http/1.1"]
    assert common["tlsCertificates"][0]["certificateChain"]["filename"] == tls.tls_cert_file
    # The key is referenced by file name, never inlined.
    assert "PRIVATE KEY" not in path.read_text()
    # Still one dual-stack listener: ICP outcalls arrive over IPv6.
    address = config["staticResources"]["listeners"][0]["address"]["socketAddress"]
    assert address["address"] == "::" and address["ipv4Compat"] is True
    assert all("transportSocket" not in c for c in config["staticResources"]["clusters"])


def test_internal_tls_makes_every_service_cluster_mutual_tls(
    settings: Settings, tmp_path: Path
) -> None:
    tls = with_tls(settings, tmp_path / "state", internal=True)
    path, config = rendered(tls, tmp_path)
    result = envoy.validate(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Deprecated field" not in result.stdout + result.stderr
    clusters = {c["name"]: c for c in config["staticResources"]["clusters"]}
    # The admin's stats cluster is Envoy's own loopback, never a service: no TLS there.
    assert "transportSocket" not in clusters.pop(STATS_CLUSTER)
    assert len(clusters) == 3
    for cluster in clusters.values():
        context = cluster["transportSocket"]["typedConfig"]
        assert context["sni"] == "localhost"
        common = context["commonTlsContext"]
        validation = common["validationContext"]
        assert validation["trustedCa"]["filename"] == tls.internal_tls_ca_file
        assert validation["matchTypedSubjectAltNames"][0]["matcher"]["exact"] == "localhost"
        assert common["tlsCertificates"][0]["certificateChain"]["filename"] == (
            tls.internal_tls_cert_file
        )
        assert common["alpnProtocols"] == ["h2"]
        # Health checks stay gRPC, over the same TLS sockets.
        assert "grpcHealthCheck" in cluster["healthChecks"][0]
