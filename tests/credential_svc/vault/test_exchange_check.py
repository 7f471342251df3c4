"""ExchangeCheck, the vault's question to the exchange, on the sim venue with ccxt's own
binance and binanceus classes against a real exchange_sim: permissions as the key has them,
and fixed errors (nothing of ccxt's text) when the key, the exchange or the id is wrong."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest

from credential_svc.vault.crypto import SecretBundle
from credential_svc.vault.exchange_check import ExchangeCheck
from exchange_sim import AdminClient, SimConfig, SimServer, running_sim
from exchanges.permissions import Permissions
from mesh.errors import DomainError, FailedPrecondition, Unavailable


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with running_sim(SimConfig(seed=5)) as server:
        yield server


@pytest.fixture
async def admin(sim: SimServer) -> AsyncIterator[AdminClient]:
    async with sim.admin() as client:
        yield client


@pytest.mark.parametrize("exchange", ["binance", "binanceus"])
async def test_permissions_are_read_as_the_key_has_them(
    sim: SimServer, admin: AdminClient, exchange: str
) -> None:
    check = ExchangeCheck("sim", sim.base_url)
    trader = await admin.create_account({"USDT": "1"})
    assert await check(exchange, SecretBundle(trader.api_key, trader.api_secret)) == Permissions(
        can_trade=True, can_withdraw=False
    )
    risky = await admin.create_account({"USDT": "1"}, can_trade=False, can_withdraw=True)
    assert await check(exchange, SecretBundle(risky.api_key, risky.api_secret)) == Permissions(
        can_trade=False, can_withdraw=True
    )


async def test_a_wrong_secret_is_refused_without_ccxts_message(
    sim: SimServer, admin: AdminClient
) -> None:
    account = await admin.create_account({"USDT": "1"})
    with pytest.raises(FailedPrecondition) as caught:
        await ExchangeCheck("sim", sim.base_url)(
            "binanceus", SecretBundle(account.api_key, "wrong-secret-0000")
        )
    assert caught.value.reason == "EXCHANGE_AUTH_FAILED"
    assert caught.value.message == "the exchange rejected the key"


async def test_an_unreachable_exchange_is_unavailable() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(Unavailable) as caught:
        await ExchangeCheck("sim", f"http://127.0.0.1:{port}")(
            "binanceus", SecretBundle("k" * 16, "s" * 16)
        )
    assert caught.value.reason == "EXCHANGE_UNAVAILABLE"
    assert "127.0.0.1" not in caught.value.message


@pytest.mark.parametrize(
    ("exchange", "reason"),
    [("kraken", "EXCHANGE_LACKS_CAPABILITY"), ("nosuchexchange", "EXCHANGE_UNSUPPORTED")],
)
async def test_exchanges_we_cannot_trade_on_are_refused_before_any_call(
    exchange: str, reason: str
) -> None:
    # The venue URL leads nowhere: a refusal here cannot have come from a request.
    with pytest.raises(DomainError) as caught:
        await ExchangeCheck("sim", "http://127.0.0.1:9")(exchange, SecretBundle("k" * 16, "s" * 16))
    assert caught.value.code == "FAILED_PRECONDITION" and caught.value.reason == reason
