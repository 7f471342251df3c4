"""CORS through Envoy: a listed browser origin may call the REST routes and SSE streams,
preflight included; any other origin gets no Access-Control-Allow-Origin, so its browser
refuses the answer; production allows no origin unless told. Nothing else is widened: no
credentials mode, no CORS headers on static files, keys still required.

A gateway of the test's own (tests/gateway/cors_support.py) with a list naming one canister
origin exactly and any canister on icp0.io by pattern, forwarding to the session's mesh."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cli.launcher import Mesh
from mesh.settings import Settings, load_settings
from tests.e2e.vault_support import new_principal, ph, register
from tests.gateway.gateway_support import DEAD_UPSTREAMS, gateway

CANISTER = "https://abcde-aaaaa-aaaaa-aaaaa-cai.icp0.io"
LISTED = (CANISTER, "https://*.raw.icp0.io", "http://localhost:*")
TICKER = "/v1/markets/BTC-USDT/ticker"
STREAM = "/v1/markets/BTC-USDT/prices:stream"


def preflight(origin: str, method: str = "GET", headers: str = "x-api-key") -> dict[str, str]:
    return {
        "origin": origin,
        "access-control-request-method": method,
        "access-control-request-headers": headers,
    }


@pytest.fixture
def cors_gateway(mesh: Mesh, tmp_path: Path) -> Iterator[str]:
    with gateway(mesh.settings, tmp_path, mesh.upstreams(), cors_origins=LISTED) as url:
        yield url


@pytest.mark.parametrize(
    ("origin", "path", "method"),
    [
        (CANISTER, TICKER, "GET"),
        ("https://qoctq-giaaa-aaaaa-aaaea-cai.raw.icp0.io", STREAM, "GET"),
        ("http://localhost:5173", "/v1/subscriptions", "POST"),
    ],
)
async def test_a_listed_origin_gets_its_preflight_answered_by_envoy(
    cors_gateway: str, origin: str, path: str, method: str
) -> None:
    async with httpx.AsyncClient(base_url=cors_gateway, timeout=10) as http:
        answer = await http.options(
            path, headers=preflight(origin, method, "content-type, idempotency-key, x-api-key")
        )
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == origin
    assert method in answer.headers["access-control-allow-methods"]
    allowed = {h.strip() for h in answer.headers["access-control-allow-headers"].split(",")}
    assert {"content-type", "idempotency-key", "x-api-key", "x-principal-id"} <= allowed
    assert {"authorization", "last-event-id", "x-request-id", "x-access-token"} <= allowed
    assert answer.headers["access-control-max-age"] == "600"
    assert "access-control-allow-credentials" not in answer.headers


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "https://a.b.raw.icp0.io",  # `*` is one DNS label, never several
        "https://abcde-aaaaa-aaaaa-aaaaa-cai.icp0.io.evil.example",
        "http://abcde-aaaaa-aaaaa-aaaaa-cai.icp0.io",  # scheme is part of the origin
        "null",
    ],
)
async def test_an_unlisted_origin_gets_no_cors_headers(cors_gateway: str, origin: str) -> None:
    async with httpx.AsyncClient(base_url=cors_gateway, timeout=10) as http:
        answer = await http.options(TICKER, headers=preflight(origin))
        simple = await http.get(TICKER, headers={"origin": origin})
    assert answer.status_code == 404
    assert answer.json()["details"][0]["reason"] == "UNKNOWN_ROUTE"
    assert not any(h.startswith("access-control-") for h in answer.headers)
    # A request without a preflight still runs (the browser, not Envoy, refuses the answer),
    # and still needs its key: 401, with nothing that lets the page read it.
    assert simple.status_code == 401
    assert "access-control-allow-origin" not in simple.headers


async def test_answers_to_a_listed_origin_carry_it_errors_included(
    cors_gateway: str, keys: dict[str, str], exchange_sim: object
) -> None:
    origin = {"origin": CANISTER}
    async with httpx.AsyncClient(base_url=cors_gateway, timeout=10) as http:
        ticker = await http.get(TICKER, headers={**origin, "x-api-key": keys["read"]})
        no_key = await http.get(TICKER, headers=origin)
        unknown = await http.get("/v1/nothing-here", headers=origin)
        page = await http.get("/dashboard/", headers=origin)
    assert ticker.status_code == 200 and ticker.json()["ticker"]["market"] == "BTC-USDT"
    assert ticker.headers["access-control-allow-origin"] == CANISTER
    assert "x-request-id" in ticker.headers["access-control-expose-headers"]
    assert "access-control-allow-credentials" not in ticker.headers
    assert no_key.status_code == 401 and no_key.json()["code"] == 16
    assert no_key.headers["access-control-allow-origin"] == CANISTER
    assert unknown.status_code == 404
    assert unknown.headers["access-control-allow-origin"] == CANISTER
    # Static files are not widened: the page is opened by navigation, never fetched.
    assert "access-control-allow-origin" not in page.headers


async def test_the_sse_stream_answers_a_listed_origin_with_a_dashboard_token(
    cors_gateway: str, keys: dict[str, str], exchange_sim: object
) -> None:
    principal = new_principal()
    async with httpx.AsyncClient(base_url=cors_gateway, timeout=10) as http:
        await register(http, keys["marketplace"], principal)
        token = await http.post(
            "/v1/dashboard-tokens", json={}, headers=ph(keys["marketplace"], principal)
        )
        assert token.status_code == 200, token.text
        params = {"access_token": token.json()["token"]}
        async with http.stream(
            "GET", STREAM, params=params, headers={"origin": CANISTER}
        ) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert stream.headers["access-control-allow-origin"] == CANISTER
            async for line in stream.aiter_lines():
                if line.startswith("data: ") and "ticker" in line:
                    break


def test_production_allows_no_origin_by_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BOTMESH_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("BOTMESH_ENVIRONMENT", "production")
    monkeypatch.delenv("BOTMESH_CORS_ORIGINS", raising=False)
    assert load_settings().cors_origins == ()
    monkeypatch.setenv("BOTMESH_ENVIRONMENT", "development")
    assert load_settings().cors_origins == (
        "http://localhost:*",
        "http://127.0.0.1:*",
        "http://[::1]:*",
    )


async def test_a_production_gateway_refuses_even_localhost(
    settings: Settings, tmp_path: Path
) -> None:
    production = dataclasses.replace(settings, environment="production", cors_origins=())
    with gateway(production, tmp_path, DEAD_UPSTREAMS) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            answer = await http.options(TICKER, headers=preflight("http://localhost:3000"))
    assert answer.status_code == 404
    assert "access-control-allow-origin" not in answer.headers
