"""Analyze on a named candle over REST through Envoy, as the bot runtime's tick names it:
the decision is on that candle, and a candle off the timeframe's grid or still open on the
exchange (the run's exchange_sim, at real speed) is refused with its reason."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest

from tests.e2e.test_bots_rest import assert_error

pytestmark = pytest.mark.usefixtures("exchange_sim")
HOUR_S = 3600
ANALYZE = {
    "market": "ETH-USDT",
    "timeframe": "1h",
    "strategy": {"name": "rsi_mean_reversion", "params": {}},
}


def rfc3339(epoch_s: int, fraction: str = "") -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


async def test_analyze_decides_on_the_named_closed_candle(
    rest: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    candle = int(time.time()) // HOUR_S * HOUR_S - 6 * HOUR_S
    body = {**ANALYZE, "candle_time": rfc3339(candle)}
    resp = await rest.post("/v1/analysis:analyze", json=body, headers={"x-api-key": keys["read"]})
    assert resp.status_code == 200, resp.text
    assert resp.json()["candle_time"] == rfc3339(candle)

    again = await rest.post(
        "/v1/analysis:analyze", json=body, headers={"x-api-key": keys["marketplace"]}
    )
    assert again.status_code == 200 and again.json()["cached"] is True
    assert again.json()["signal"] == resp.json()["signal"]


async def test_a_candle_off_the_grid_or_still_open_is_refused(
    rest: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    headers = {"x-api-key": keys["read"]}
    hour = int(time.time()) // HOUR_S * HOUR_S
    for unaligned in (rfc3339(hour - 2 * HOUR_S + 60), rfc3339(hour - 2 * HOUR_S, ".000000001")):
        resp = await rest.post(
            "/v1/analysis:analyze", json={**ANALYZE, "candle_time": unaligned}, headers=headers
        )
        assert_error(resp, 400, reason="INVALID_CANDLE_TIME", field="candle_time")

    for still_open in (hour, hour + 48 * HOUR_S):  # the current candle, and one days ahead
        resp = await rest.post(
            "/v1/analysis:analyze",
            json={**ANALYZE, "candle_time": rfc3339(still_open)},
            headers=headers,
        )
        body = assert_error(resp, 400, reason="CANDLE_NOT_CLOSED")
        assert body["code"] == 9  # FAILED_PRECONDITION
