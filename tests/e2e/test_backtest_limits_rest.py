"""Backtests through Envoy: owned by the acting principal, not only the key, and capped in
how many run at once per key. The mesh's default cap is 4 running backtests per key."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest

from analysis_svc.backtests.slots import DEFAULT_PER_KEY
from tests.e2e.test_analysis_rest import backtest_body
from tests.e2e.test_bots_rest import assert_error

pytestmark = pytest.mark.usefixtures("exchange_sim")
ALICE = "rrkah-fqaaa-aaaaa-aaaaq-cai"
BOB = "ryjl3-tyaaa-aaaaa-aaaba-cai"


def acting(key: str, principal: str | None) -> dict[str, str]:
    headers = {"x-api-key": key, "idempotency-key": uuid.uuid4().hex}
    if principal is not None:
        headers["x-principal-id"] = principal
    return headers


def long_body() -> dict[str, Any]:
    """About 69 days of 1m candles: fetching them keeps a backtest running for a while."""
    return backtest_body(hours=99_000, timeframe="1m", step_s=60)


async def test_another_principal_through_the_same_key_sees_nothing(
    rest: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    market = keys["marketplace"]
    made = await rest.post(
        "/v1/backtests", json=backtest_body(hours=100), headers=acting(market, ALICE)
    )
    assert made.status_code == 200, made.text
    backtest_id = made.json()["backtest"]["backtest_id"]
    path = f"/v1/backtests/{backtest_id}"
    for stranger in (BOB, None):
        got = await rest.get(path, headers=acting(market, stranger))
        assert_error(got, 404, reason="BACKTEST_NOT_FOUND")
        canceled = await rest.post(f"{path}:cancel", json={}, headers=acting(market, stranger))
        assert_error(canceled, 404, reason="BACKTEST_NOT_FOUND")
    mine = await rest.get(path, headers=acting(market, ALICE))
    assert mine.status_code == 200 and mine.json()["backtest"]["backtest_id"] == backtest_id


async def test_running_backtests_are_capped_per_key(rest: httpx.AsyncClient, issue_key) -> None:  # type: ignore[no-untyped-def]
    _, key = await issue_key("read", name="backtest cap")
    _, other = await issue_key("read", name="backtest cap, other key")
    running = []
    for _ in range(DEFAULT_PER_KEY):
        made = await rest.post("/v1/backtests", json=long_body(), headers=acting(key, None))
        assert made.status_code == 200, made.text
        running.append(made.json()["backtest"]["backtest_id"])
    refused = await rest.post("/v1/backtests", json=long_body(), headers=acting(key, None))
    body = assert_error(refused, 429, reason="BACKTESTS_PER_KEY_LIMIT")
    assert body["code"] == 8
    # Another key is not held back by this one's runs.
    theirs = await rest.post(
        "/v1/backtests", json=backtest_body(hours=100), headers=acting(other, None)
    )
    assert theirs.status_code == 200, theirs.text
    # Cancelling frees the slots: the key may run backtests again.
    for backtest_id in running:
        await rest.post(f"/v1/backtests/{backtest_id}:cancel", json={}, headers=acting(key, None))
    deadline = time.monotonic() + 10
    while True:
        again = await rest.post(
            "/v1/backtests", json=backtest_body(hours=100), headers=acting(key, None)
        )
        if again.status_code == 200 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert again.status_code == 200, again.text
