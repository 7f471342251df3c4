"""SIGNED endpoint security: key, HMAC signature over the raw request, timestamp window."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import ccxt.async_support as ccxt
import pytest

from exchange_sim import Credentials, SimServer

pytestmark = pytest.mark.timeout(60)  # every wait below is bounded; this is a backstop
ExchangeFactory = Callable[..., Any]


async def test_wrong_secret_raises_authentication_error(
    sim: SimServer, creds: Credentials, make_exchange: ExchangeFactory
) -> None:
    forged = Credentials(creds.api_key, "0" * 64, creds.uid)
    with pytest.raises(ccxt.AuthenticationError, match="Signature for this request is not valid"):
        await make_exchange(sim, forged).fetch_balance()


async def test_unknown_api_key_raises_authentication_error(
    sim: SimServer, make_exchange: ExchangeFactory
) -> None:
    stranger = Credentials("nobody", "secret", 0)
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        await make_exchange(sim, stranger).fetch_balance()


async def test_stale_timestamp_raises_invalid_nonce(
    sim: SimServer, creds: Credentials, make_exchange: ExchangeFactory
) -> None:
    ex = make_exchange(sim, creds, options={"timeDifference": 15_000, "recvWindow": 10_000})
    with pytest.raises(ccxt.InvalidNonce, match="outside of the recvWindow"):
        await ex.fetch_balance()
    ex.options["recvWindow"] = 20_000  # a wider window accepts the same clock skew
    assert (await ex.fetch_balance())["USDT"]["total"] == 100000


async def test_timestamp_from_the_future_raises_invalid_nonce(
    sim: SimServer, creds: Credentials, make_exchange: ExchangeFactory
) -> None:
    ex = make_exchange(sim, creds, options={"timeDifference": -5_000})
    with pytest.raises(ccxt.InvalidNonce, match="ahead of the server"):
        await ex.fetch_balance()


async def test_signature_covers_the_exact_parameters_sent(
    sim: SimServer, creds: Credentials, signed: Any
) -> None:
    ok = await signed(sim.base_url, "GET", "/api/v3/account", {"recvWindow": 5000}, creds=creds)
    assert ok.status == 200 and ok.body["uid"] == creds.uid
    assert int(ok.headers["X-MBX-USED-WEIGHT-1M"]) >= 20
    tampered = await signed(
        sim.base_url, "GET", "/api/v3/account", creds=creds, tamper={"omitZeroBalances": "true"}
    )
    assert (tampered.status, tampered.body["code"]) == (400, -1022)
    posted = await signed(
        sim.base_url,
        "POST",
        "/api/v3/order/test",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"},
        creds=creds,
    )
    assert (posted.status, posted.body) == (200, {})


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"sign_request": False}, 400, -1102),  # no signature
        ({"params": {"recvWindow": 70000}}, 400, -1131),
        ({"timestamp_ms": 1}, 400, -1021),
    ],
)
async def test_malformed_signed_requests_get_binance_codes(
    sim: SimServer, creds: Credentials, signed: Any, kwargs: dict[str, Any], status: int, code: int
) -> None:
    params = kwargs.pop("params", {})
    resp = await signed(sim.base_url, "GET", "/api/v3/account", params, creds=creds, **kwargs)
    assert (resp.status, resp.body["code"]) == (status, code)


async def test_missing_api_key_header_is_rejected_with_401(sim: SimServer, signed: Any) -> None:
    resp = await signed(
        sim.base_url, "GET", "/api/v3/account", {"timestamp": int(time.time() * 1000)}
    )
    assert (resp.status, resp.body) == (401, {"code": -2014, "msg": "API-key format invalid."})


async def test_public_endpoints_need_no_key(sim: SimServer, signed: Any) -> None:
    resp = await signed(sim.base_url, "GET", "/api/v3/ping")
    assert (resp.status, resp.body) == (200, {})
