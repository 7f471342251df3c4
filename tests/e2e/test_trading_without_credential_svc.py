"""trading_svc asks credential_svc about the subscription on every order: with credential_svc
down, PlaceOrder through Envoy answers 503 UNAVAILABLE with reason SUBSCRIPTIONS_UNAVAILABLE
and a RetryInfo (never a 500, never a guess from its own projection), and places nothing.

A mesh of its own (launcher, Envoy, the three services, exchange_sim) on a scratch database
and a private Redis, since this test stops its credential_svc (by pid) for good.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from cli.launcher import Mesh
from exchange_sim import AdminClient
from mesh.db import make_engine
from tests.e2e.degraded_support import RETRY_INFO, details, issue, start_mesh
from tests.e2e.test_bots_rest import assert_error
from tests.e2e.trading_support import Account, idem, open_account
from tests.private_servers import RedisServer
from tests.support import alembic, mariadb_url
from trading_svc.tables import orders

BUY = {"side": "ORDER_SIDE_BUY", "type": "ORDER_TYPE_MARKET", "quantity": "0.001"}


@pytest.fixture(scope="module")
def private_mesh(scratch_database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:  # type: ignore[no-untyped-def]
    workdir: Path = tmp_path_factory.mktemp("no-credential-svc")
    url = mariadb_url(scratch_database())
    migrated = alembic(url, "upgrade", "head")
    assert migrated.returncode == 0, migrated.stderr
    redis = RedisServer(workdir / "redis")
    redis.start()
    try:
        mesh = start_mesh(workdir / "state", database_url=url, redis_url=redis.url)
        try:
            yield mesh
        finally:
            mesh.stop()
    finally:
        redis.stop()


@pytest.fixture
async def rest(private_mesh: Mesh) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=private_mesh.rest_url, timeout=30) as client:
        yield client


async def _count(engine, account: Account) -> int:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        query = sa.select(sa.func.count()).where(
            orders.c.subscription_id == account.subscription_id
        )
        return int((await conn.execute(query)).scalar_one())


async def test_place_order_with_credential_svc_down_is_unavailable(
    private_mesh: Mesh, rest: httpx.AsyncClient
) -> None:
    settings = private_mesh.settings
    keys = {s: await issue(settings, s) for s in ("marketplace", "bots:write")}
    engine = make_engine(settings.database_url)
    try:
        async with AdminClient(settings.exchange_sim_url) as admin:
            account = await open_account(rest, keys, engine, admin)
        placed = await rest.post(account.path("/orders"), json=BUY, headers=idem(account.headers))
        assert placed.status_code == 200, placed.text
        assert await _count(engine, account) == 1

        credential_svc = private_mesh.processes["credential_svc"]
        credential_svc.send_signal(signal.SIGTERM)
        credential_svc.wait(15)

        refused = await rest.post(account.path("/orders"), json=BUY, headers=idem(account.headers))
        body = assert_error(refused, 503, reason="SUBSCRIPTIONS_UNAVAILABLE")
        assert RETRY_INFO in details(refused), body
        assert await _count(engine, account) == 1  # nothing placed
        status = await rest.get(account.path("/status"), headers=account.headers)
        assert_error(status, 503, reason="SUBSCRIPTIONS_UNAVAILABLE")
    finally:
        await engine.dispose()
