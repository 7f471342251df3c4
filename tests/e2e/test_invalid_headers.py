"""A header gRPC metadata cannot carry is refused at the gateway, in the contract's error
shape, instead of reaching a service whose gRPC server fails the call as INTERNAL (a 500).
Found by schemathesis (tests/e2e/test_openapi_fuzz.py)."""

from __future__ import annotations

import base64

import httpx
import pytest
from google.rpc import error_details_pb2, status_pb2


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("a`", "x"),  # HTTP/1.1 token characters gRPC refuses in a name
        ("x|y", "x"),
        ("x-note", "caf\xe9"),  # a byte past ASCII in a value
    ],
)
async def test_a_rest_call_with_a_header_grpc_cannot_carry_gets_400_invalid_header(
    rest: httpx.AsyncClient, keys: dict[str, str], name: str, value: str
) -> None:
    headers = [("x-api-key", keys["read"]), (name, value.encode("latin-1"))]
    response = await rest.get("/v1/bots", headers=headers)  # type: ignore[arg-type]

    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == 3
    assert body["details"][0]["reason"] == "INVALID_HEADER"
    assert name in body["message"]


async def test_binary_metadata_and_ordinary_headers_still_pass(
    rest: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    headers = {"x-api-key": keys["read"], "x-trace-bin": "AAE=", "x-client.v2_ok": "a b~"}
    response = await rest.get("/v1/bots", headers=headers)

    assert response.status_code == 200, response.text


async def test_a_grpc_call_with_such_a_header_gets_invalid_argument(
    rest: httpx.AsyncClient,
) -> None:
    response = await rest.post(
        "/botmesh.credential.v1.MarketplaceService/ListBots",
        headers={"content-type": "application/grpc", "te": "trailers", "a`": "x"},
        content=b"\x00\x00\x00\x00\x00",
    )

    assert response.headers["grpc-status"] == "3"
    raw = response.headers["grpc-status-details-bin"]
    status = status_pb2.Status.FromString(base64.b64decode(raw + "=" * (-len(raw) % 4)))
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert info.reason == "INVALID_HEADER"
