"""TLS at the edge and between the services, black-box against a real Envoy and real
services (`botmesh up --tls --internal-tls`, on a private mesh shared by this module):

- Envoy's public port speaks TLS 1.3 only: a client capped at TLS 1.2 is refused, one that
  does not trust the development CA too; the chain verifies against that CA and names
  localhost, 127.0.0.1 and ::1; ALPN gives h2 or http/1.1, as the client asks;
- REST (HTTP/1.1 and HTTP/2), gRPC and SSE all work over TLS on that one port;
- an ICP outcall storm over https://[::1] (13 copies, one Idempotency-Key) gets 13
  identical answers and one effect;
- the services speak mutual TLS: a request that crosses services is served, a plaintext
  or certificate-less caller is refused at the handshake, and the internal identity is the
  internal token as before: TLS without it is not an internal caller.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from botmesh.credential.v1 import internal_service_pb2 as internal_api
from botmesh.credential.v1 import internal_service_pb2_grpc as internal_rpc
from botmesh.credential.v1 import marketplace_service_pb2 as api
from botmesh.credential.v1 import marketplace_service_pb2_grpc as rpc
from botmesh.trading.v1 import market_data_service_pb2 as md
from botmesh.trading.v1 import market_data_service_pb2_grpc as md_rpc
from cryptography import x509
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cli.admin_client import list_keys
from cli.dev_ca import DevCertificates
from cli.launcher import Mesh, service_address
from mesh.auth import API_KEY_HEADER, INTERNAL_HEADER
from mesh.scopes import SCOPES
from mesh.tls import internal_tls
from tests.e2e.degraded_support import issue
from tests.e2e.private_mesh import PrivateMeshes, sim_of
from tests.e2e.subscription_support import make_renter, payment, subscribe
from tests.e2e.tls_support import client_context, handshake, start_tls_mesh
from tests.support import count_rows

BOT = {"name": "tls bot", "strategy": "ma_crossover", "markets": ["BTC-USDT"], "timeframe": "1h"}
COPIES = 13


@dataclass
class TlsMesh:
    mesh: Mesh
    certs: DevCertificates
    keys: dict[str, str]

    @property
    def port(self) -> int:
        return self.mesh.settings.envoy_port

    def context(self, **kw: object) -> ssl.SSLContext:
        return client_context(self.certs.ca_file, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def tls_meshes(
    scratch_database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrivateMeshes]:  # type: ignore[no-untyped-def]
    meshes = PrivateMeshes(scratch_database, lambda: tmp_path_factory.mktemp("tls-mesh"))
    try:
        yield meshes
    finally:
        meshes.stop_all()


@pytest.fixture(scope="module")
async def tls(tls_meshes: PrivateMeshes, tmp_path_factory: pytest.TempPathFactory) -> TlsMesh:
    mesh, certs = start_tls_mesh(tls_meshes, tmp_path_factory.mktemp("tls-state"))
    keys = {scope: await issue(mesh.settings, scope) for scope in SCOPES}
    return TlsMesh(mesh, certs, keys)


@pytest.fixture
async def rest(tls: TlsMesh) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=tls.mesh.rest_url, verify=tls.context(), timeout=15
    ) as client:
        yield client


# --- the handshake ---------------------------------------------------------------------


@pytest.mark.parametrize(("host", "name"), [("127.0.0.1", "localhost"), ("::1", "::1")])
def test_tls13_handshake_and_a_chain_that_verifies_against_the_dev_ca(
    tls: TlsMesh, host: str, name: str
) -> None:
    with handshake(tls.context(), host, tls.port, name) as sock:
        assert sock.version() == "TLSv1.3"
        der = sock.getpeercert(binary_form=True)
    assert der is not None
    leaf = x509.load_der_x509_certificate(der)
    ca = x509.load_pem_x509_certificate(tls.certs.ca_file.read_bytes())
    leaf.verify_directly_issued_by(ca)
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}


def test_a_client_capped_at_tls12_is_refused(tls: TlsMesh) -> None:
    capped = tls.context(max_version=ssl.TLSVersion.TLSv1_2)
    with pytest.raises(ssl.SSLError), handshake(capped, "127.0.0.1", tls.port, "localhost"):
        pass


def test_a_client_that_does_not_trust_the_dev_ca_is_refused(tls: TlsMesh) -> None:
    system_roots = ssl.create_default_context()
    with (
        pytest.raises(ssl.SSLCertVerificationError),
        handshake(system_roots, "127.0.0.1", tls.port, "localhost"),
    ):
        pass


def test_a_name_the_certificate_does_not_carry_is_refused(tls: TlsMesh) -> None:
    with (
        pytest.raises(ssl.SSLCertVerificationError),
        handshake(tls.context(), "127.0.0.1", tls.port, "botmesh.example"),
    ):
        pass


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [(["h2", "http/1.1"], "h2"), (["http/1.1"], "http/1.1"), (["h2"], "h2")],
)
def test_alpn_negotiates_h2_and_http11(tls: TlsMesh, offered: list[str], chosen: str) -> None:
    with handshake(tls.context(alpn=offered), "127.0.0.1", tls.port, "localhost") as sock:
        assert sock.selected_alpn_protocol() == chosen


async def test_plaintext_http_to_the_tls_port_gets_no_answer(tls: TlsMesh) -> None:
    async with httpx.AsyncClient(timeout=5) as plain:
        with pytest.raises(httpx.HTTPError):
            await plain.get(f"http://127.0.0.1:{tls.port}/v1/bots")


# --- REST, gRPC and SSE over TLS -------------------------------------------------------


@pytest.mark.parametrize("http2", [False, True])
async def test_rest_over_tls_with_http11_and_h2(tls: TlsMesh, http2: bool) -> None:
    async with httpx.AsyncClient(
        base_url=tls.mesh.rest_url, verify=tls.context(), http2=http2, timeout=15
    ) as client:
        headers = {"x-api-key": tls.keys["bots:write"]}
        made = await client.post("/v1/bots", json=BOT, headers=headers)
        assert made.status_code == 200, made.text
        assert made.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
        bot_id = made.json()["bot"]["bot_id"]
        got = await client.get(f"/v1/bots/{bot_id}", headers={"x-api-key": tls.keys["read"]})
        assert got.status_code == 200 and got.json()["bot"]["name"] == BOT["name"]
        refused = await client.get("/v1/bots")
        assert refused.status_code == 401
        assert refused.json()["details"][0]["reason"]


async def test_grpc_over_tls_unary_and_streaming(tls: TlsMesh) -> None:
    credentials = grpc.ssl_channel_credentials(tls.certs.ca_file.read_bytes())
    async with grpc.aio.secure_channel(f"localhost:{tls.port}", credentials) as channel:
        metadata = (("x-api-key", tls.keys["bots:write"]),)
        made = await rpc.MarketplaceServiceStub(channel).CreateBot(
            api.CreateBotRequest(
                name="grpc tls", strategy="macd_cross", markets=["ETH-USDT"], timeframe="5m"
            ),
            metadata=metadata,
            timeout=15,
        )
        assert made.bot.bot_id
        call = md_rpc.MarketDataServiceStub(channel).StreamPrices(
            md.StreamPricesRequest(market="ETH-USDT"), metadata=(("x-api-key", tls.keys["read"]),)
        )
        async with asyncio.timeout(20):
            async for item in call:
                if item.HasField("ticker"):
                    assert item.ticker.market == "ETH-USDT" and float(item.ticker.last) > 0
                    break
        call.cancel()
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await rpc.MarketplaceServiceStub(channel).ListBots(api.ListBotsRequest(), timeout=15)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_sse_over_tls(tls: TlsMesh, rest: httpx.AsyncClient) -> None:
    url = "/v1/markets/BTC-USDT/prices:stream"
    async with asyncio.timeout(20):
        async with rest.stream("GET", url, headers={"x-api-key": tls.keys["read"]}) as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            async for line in resp.aiter_lines():
                if line.startswith("data: ") and "ticker" in (event := json.loads(line[6:])):
                    assert event["ticker"]["market"] == "BTC-USDT"
                    break


# --- the ICP outcall storm over IPv6 with TLS ------------------------------------------


async def _storm(
    tls: TlsMesh, path: str, body: dict[str, Any], headers: dict[str, str]
) -> list[httpx.Response]:
    """COPIES identical POSTs at once, as ICP replicas send one outcall: over IPv6 and TLS."""
    async with httpx.AsyncClient(
        base_url=f"https://[::1]:{tls.port}", verify=tls.context(), timeout=30
    ) as v6:
        return list(
            await asyncio.gather(
                *[v6.post(path, json=body, headers=headers) for _ in range(COPIES)]
            )
        )


async def test_thirteen_icp_copies_over_ipv6_tls_get_identical_answers_and_one_bot(
    tls: TlsMesh,
) -> None:
    headers = {"x-api-key": tls.keys["bots:write"], "idempotency-key": secrets.token_hex(16)}
    before = count_rows(tls.mesh.settings, "bots")
    replies = await _storm(tls, "/v1/bots", BOT, headers)
    assert {r.status_code for r in replies} == {200}, [r.text for r in replies]
    assert len({r.content for r in replies}) == 1
    varying = {"date"}
    assert (
        len(
            {
                tuple(sorted((k, v) for k, v in r.headers.items() if k not in varying))
                for r in replies
            }
        )
        == 1
    )
    assert count_rows(tls.mesh.settings, "bots") == before + 1


async def test_thirteen_icp_copies_of_a_payment_over_ipv6_tls_record_it_once(
    tls: TlsMesh, rest: httpx.AsyncClient
) -> None:
    renter = await make_renter(rest, tls.keys, sim_of(tls.mesh))
    sid = (await subscribe(rest, renter))["subscription_id"]
    headers = {**renter.headers, "idempotency-key": secrets.token_hex(16)}
    before = count_rows(tls.mesh.settings, "payments")
    replies = await _storm(tls, f"/v1/subscriptions/{sid}/payments", payment(), headers)
    assert {r.status_code for r in replies} == {200}, [r.text for r in replies]
    assert len({r.content for r in replies}) == 1
    assert count_rows(tls.mesh.settings, "payments") == before + 1


# --- service to service ----------------------------------------------------------------


async def test_a_request_that_crosses_services_is_served_over_internal_tls(
    rest: httpx.AsyncClient, tls: TlsMesh
) -> None:
    """analysis_svc reads its candles from trading_svc: Envoy -> analysis_svc -> trading_svc,
    every hop mutual TLS."""
    resp = await rest.post(
        "/v1/analysis:analyze",
        json={
            "market": "BTC-USDT",
            "timeframe": "1m",
            "strategy": {"name": "rsi_mean_reversion", "params": {"period": "7"}},
        },
        headers={"x-api-key": tls.keys["read"]},
    )
    assert resp.status_code == 200, resp.text


def test_envoy_health_checks_the_services_over_mutual_tls(tls: TlsMesh) -> None:
    admin = f"http://127.0.0.1:{tls.mesh.settings.envoy_admin_port}"
    clusters = httpx.get(f"{admin}/clusters", timeout=10).text
    stats = dict(
        line.split(": ", 1)
        for line in httpx.get(f"{admin}/stats", timeout=10).text.splitlines()
        if ": " in line
    )
    for service in ("credential_svc", "trading_svc", "analysis_svc"):
        assert f"{service}::" in clusters
        assert int(stats[f"cluster.{service}.health_check.success"]) > 0
        assert int(stats[f"cluster.{service}.ssl.handshake"]) > 0
        assert int(stats[f"cluster.{service}.ssl.connection_error"]) == 0
    assert clusters.count("::health_flags::healthy") >= 3


def _health(target: str, credentials: grpc.ChannelCredentials | None, **kw: str) -> int:
    options = [("grpc.ssl_target_name_override", kw["name"])] if "name" in kw else []
    channel = (
        grpc.secure_channel(target, credentials, options=options)
        if credentials is not None
        else grpc.insecure_channel(target)
    )
    with channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        )
    return int(reply.status)


def test_services_accept_only_callers_with_the_internal_certificate(tls: TlsMesh) -> None:
    host, port = service_address(tls.mesh.settings, "credential_svc")
    target = f"{host}:{port}"
    internal = internal_tls(tls.mesh.settings)
    assert internal is not None
    served = _health(target, internal.channel_credentials(), name="localhost")
    assert served == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as plaintext:
        _health(target, None)
    assert plaintext.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
    anonymous = grpc.ssl_channel_credentials(Path(internal.ca_file).read_bytes())
    with pytest.raises(grpc.RpcError) as no_cert:
        _health(target, anonymous, name="localhost")
    assert no_cert.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]


async def test_the_internal_identity_is_still_the_internal_token(tls: TlsMesh) -> None:
    """The admin CLI reaches credential_svc over mutual TLS with the internal token; the same
    TLS connection with a wrong token is not an internal caller."""
    settings = tls.mesh.settings
    lines = await list_keys(settings, tls.keys["admin"])
    assert any("admin" in line for line in lines)
    internal = internal_tls(settings)
    assert internal is not None
    host, port = service_address(settings, "credential_svc")
    async with grpc.aio.secure_channel(
        f"{host}:{port}", internal.channel_credentials(), options=internal.channel_options()
    ) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await internal_rpc.AdminServiceStub(channel).ListApiKeys(
                internal_api.ListApiKeysRequest(page_size=1),
                metadata=((API_KEY_HEADER, tls.keys["admin"]), (INTERNAL_HEADER, "not-the-token")),
                timeout=10,
            )
    assert refused.value.code() in (
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
    )
