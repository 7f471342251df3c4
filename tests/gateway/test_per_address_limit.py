"""Envoy limits each client address before anything reaches a service: an unauthenticated
flood from one address gets 429 (as google.rpc.Status JSON) from Envoy, while another address
is still served. A separate Envoy in front of the run's services, with a low per-address
limit, so the shared gateway's generous limit is untouched."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cli.launcher import SERVICES, Mesh, free_port, port_open, service_address
from gateway import envoy
from gateway.envoy_config import GatewayConfig, render


@dataclasses.dataclass(frozen=True)
class Gateway:
    url: str
    admin: int


def _ready(admin_port: int) -> bool:
    try:
        url = f"http://127.0.0.1:{admin_port}/clusters"
        with urllib.request.urlopen(url, timeout=1) as resp:
            return resp.read().decode().count("::health_flags::healthy") >= len(SERVICES)
    except OSError:
        return False


@pytest.fixture
def strict_gateway(mesh: Mesh, tmp_path: Path) -> Iterator[Gateway]:
    upstreams = {s: [service_address(mesh.settings, s)] for s in SERVICES}
    base = envoy.gateway_config(mesh.settings, upstreams)
    config: GatewayConfig = dataclasses.replace(
        base, listen_port=free_port(), admin_port=free_port(), per_address_rate_limit_per_s=1
    )
    path = envoy.write_bootstrap(config, tmp_path / "envoy.json")
    checked = envoy.validate(path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    proc = envoy.start(path, tmp_path / "envoy.log", concurrency=1)
    try:
        for _ in range(300):
            if port_open("127.0.0.1", config.listen_port) and _ready(config.admin_port):
                break
            assert proc.poll() is None, (tmp_path / "envoy.log").read_text()
            time.sleep(0.1)
        yield Gateway(f"http://127.0.0.1:{config.listen_port}", config.admin_port)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def _flood(url: str, n: int, source: str) -> list[httpx.Response]:
    transport = httpx.AsyncHTTPTransport(local_address=source)
    async with httpx.AsyncClient(base_url=url, transport=transport, timeout=10) as client:
        return await asyncio.gather(*(client.get("/v1/bots") for _ in range(n)))


async def test_a_flood_from_one_address_gets_429_before_authentication(
    strict_gateway: Gateway,
) -> None:
    replies = await _flood(strict_gateway.url, 40, "127.0.0.1")
    codes = [r.status_code for r in replies]
    # Those that got through were refused by the service (no key); the rest never reached it.
    assert set(codes) <= {401, 429}
    assert codes.count(429) >= 30
    for reply in replies:
        body = reply.json()
        assert reply.headers["content-type"].startswith("application/json")
        reason = body["details"][0]["reason"]
        if reply.status_code == 429:
            assert body["code"] == 8 and reason == "GATEWAY_RATE_LIMITED"
        else:
            assert body["code"] == 16 and reason == "API_KEY_MISSING"


async def test_the_limit_is_per_address_not_global(strict_gateway: Gateway) -> None:
    flooded = await _flood(strict_gateway.url, 20, "127.0.0.1")
    assert [r.status_code for r in flooded].count(429) >= 10
    # Another client address still reaches the service while the first is throttled.
    other = await _flood(strict_gateway.url, 1, "127.0.0.2")
    assert other[0].status_code == 401
    assert other[0].json()["details"][0]["reason"] == "API_KEY_MISSING"


def test_the_per_address_bucket_is_rendered_from_settings(mesh: Mesh) -> None:
    upstreams = {s: [("127.0.0.1", 1)] for s in SERVICES}
    config = envoy.gateway_config(mesh.settings, upstreams)
    assert config.per_address_rate_limit_per_s == mesh.settings.gateway_rate_limit_per_address
    rendered = json.loads(render(config))
    manager = rendered["staticResources"]["listeners"][0]["filterChains"][0]["filters"][0][
        "typedConfig"
    ]
    filters = {f["name"]: f["typedConfig"] for f in manager["httpFilters"]}
    limit = filters["envoy.filters.http.local_ratelimit"]
    assert limit["rateLimits"] == [{"actions": [{"remoteAddress": {}}]}]
    (descriptor,) = limit["descriptors"]
    assert descriptor["entries"] == [{"key": "remote_address"}]
    per_s = mesh.settings.gateway_rate_limit_per_address
    assert descriptor["tokenBucket"]["tokensPerFill"] == per_s
    assert descriptor["tokenBucket"]["maxTokens"] == 2 * per_s
    names = list(filters)
    assert names.index("envoy.filters.http.local_ratelimit") < names.index(
        "envoy.filters.http.grpc_json_transcoder"
    )
