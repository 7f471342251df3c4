"""The bot catalog over REST through Envoy: the marketplace's view of the contract."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from cli.launcher import Mesh
from mesh.settings import Settings
from tests.support import count_rows

BOT = {
    "name": "Trend rider",
    "description": "Follows moving-average crossovers.",
    "strategy": "ma_crossover",
    "strategy_params": {"fast": "9", "slow": "21"},
    "markets": ["BTC-USDT", "ETH-USDT"],
    "timeframe": "1h",
    "risk_limits": {"stop_loss_pct": "0.05", "cooldown_seconds": 300},
}


def h(key: str) -> dict[str, str]:
    return {"x-api-key": key}


def assert_error(
    resp: httpx.Response, status: int, *, reason: str | None = None, field: str | None = None
) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = resp.json()
    info = next(d for d in body["details"] if d["@type"].endswith("google.rpc.ErrorInfo"))
    if reason is not None:
        assert info["reason"] == reason, body
    if field is not None:
        assert info["metadata"].get("field") == field, body
    assert "Traceback" not in resp.text
    return body


async def test_create_get_update_a_bot(rest: httpx.AsyncClient, keys: dict[str, str]) -> None:
    created = await rest.post("/v1/bots", json=BOT, headers=h(keys["bots:write"]))
    assert created.status_code == 200, created.text
    bot = created.json()["bot"]
    assert bot["bot_id"].startswith("bot_")
    assert bot["markets"] == ["BTC-USDT", "ETH-USDT"]
    assert bot["risk_limits"]["stop_loss_pct"] == "0.05"
    assert not any(name.startswith("grpc-") for name in created.headers)

    got = await rest.get(f"/v1/bots/{bot['bot_id']}", headers=h(keys["read"]))
    assert got.status_code == 200 and got.json()["bot"] == bot

    patched = await rest.patch(
        f"/v1/bots/{bot['bot_id']}",
        params={"update_mask": "name,timeframe"},
        json={"name": "Trend rider II", "timeframe": "4h", "description": "ignored: not in mask"},
        headers=h(keys["bots:write"]),
    )
    assert patched.status_code == 200, patched.text
    updated = patched.json()["bot"]
    assert (updated["name"], updated["timeframe"]) == ("Trend rider II", "4h")
    assert updated["description"] == BOT["description"]
    assert updated["update_time"] > bot["update_time"]
    again = await rest.get(f"/v1/bots/{bot['bot_id']}", headers=h(keys["read"]))
    assert again.json()["bot"]["name"] == "Trend rider II"


async def test_list_pages_through_every_bot_once(
    rest: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    made = []
    for i in range(3):
        resp = await rest.post(
            "/v1/bots", json={**BOT, "name": f"pager {i}"}, headers=h(keys["bots:write"])
        )
        made.append(resp.json()["bot"]["bot_id"])
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        params: dict[str, Any] = {"page_size": 2}
        if token:
            params["page_token"] = token
        resp = await rest.get("/v1/bots", params=params, headers=h(keys["read"]))
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert len(body["bots"]) <= 2
        seen += [b["bot_id"] for b in body["bots"]]
        pages += 1
        token = body["next_page_token"]
        if not token:
            break
    assert pages >= 2
    assert len(seen) == len(set(seen))
    assert seen[:3] == list(reversed(made))  # newest first


async def test_an_unknown_bot_is_not_found(rest: httpx.AsyncClient, keys: dict[str, str]) -> None:
    assert_error(
        await rest.get("/v1/bots/bot_missing", headers=h(keys["read"])), 404, reason="BOT_NOT_FOUND"
    )


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({**BOT, "name": ""}, "name", "INVALID_FIELD"),
        ({k: v for k, v in BOT.items() if k != "strategy"}, "strategy", "INVALID_FIELD"),
        ({**BOT, "markets": ["BTC/USDT"]}, "markets", "INVALID_FIELD"),
        ({**BOT, "nmae": "typo"}, "nmae", "UNKNOWN_FIELD"),
        ({**BOT, "risk_limits": {"stop_loss": "0.1"}}, "risk_limits.stop_loss", "UNKNOWN_FIELD"),
        (
            {**BOT, "risk_limits": {"stop_loss_pct": "5%"}},
            "risk_limits.stop_loss_pct",
            "INVALID_FIELD",
        ),
    ],
)
async def test_bad_bodies_are_refused_and_write_nothing(
    rest: httpx.AsyncClient,
    keys: dict[str, str],
    settings: Settings,
    body: dict[str, Any],
    field: str,
    reason: str,
) -> None:
    before = count_rows(settings, "bots")
    resp = await rest.post("/v1/bots", json=body, headers=h(keys["bots:write"]))
    assert_error(resp, 400, reason=reason, field=field)
    assert count_rows(settings, "bots") == before


async def test_malformed_json_is_a_json_400(
    rest: httpx.AsyncClient, keys: dict[str, str], settings: Settings
) -> None:
    before = count_rows(settings, "bots")
    resp = await rest.post(
        "/v1/bots",
        content=b'{"name": "x", ',
        headers={**h(keys["bots:write"]), "content-type": "application/json"},
    )
    assert_error(resp, 400, reason="MALFORMED_REQUEST")
    assert count_rows(settings, "bots") == before


async def test_unknown_query_parameters_and_routes_are_refused(
    rest: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    body = assert_error(
        await rest.get("/v1/bots", params={"colour": "red"}, headers=h(keys["read"])), 400
    )
    assert "colour" in body["message"]
    assert_error(await rest.get("/v1/robots", headers=h(keys["read"])), 404, reason="UNKNOWN_ROUTE")


@pytest.mark.parametrize("size", [101, -1])
async def test_out_of_range_page_size_names_the_field(
    rest: httpx.AsyncClient, keys: dict[str, str], size: int
) -> None:
    resp = await rest.get("/v1/bots", params={"page_size": size}, headers=h(keys["read"]))
    assert_error(resp, 400, reason="INVALID_FIELD", field="page_size")


async def test_a_forged_page_token_is_refused(
    rest: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    resp = await rest.get(
        "/v1/bots", params={"page_token": "bm90LWEtdG9rZW4"}, headers=h(keys["read"])
    )
    assert_error(resp, 400, reason="INVALID_PAGE_TOKEN", field="page_token")


async def test_update_mask_must_name_updatable_fields(
    rest: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    bot = (await rest.post("/v1/bots", json=BOT, headers=h(keys["bots:write"]))).json()["bot"]
    url = f"/v1/bots/{bot['bot_id']}"
    unknown = await rest.patch(
        url,
        params={"update_mask": "author_key_id"},
        json={"author_key_id": "x"},
        headers=h(keys["bots:write"]),
    )
    assert_error(unknown, 400, reason="UNKNOWN_UPDATE_PATH", field="update_mask")
    cleared = await rest.patch(
        url, params={"update_mask": "name"}, json={"name": ""}, headers=h(keys["bots:write"])
    )
    assert_error(cleared, 400, field="bot.name")
    missing_mask = await rest.patch(url, json={"name": "x"}, headers=h(keys["bots:write"]))
    assert_error(missing_mask, 400, field="update_mask")


@pytest.mark.parametrize(
    ("headers", "status", "reason"),
    [
        ({}, 401, "API_KEY_MISSING"),
        ({"x-api-key": "not-a-key"}, 401, "API_KEY_INVALID"),
        ({"x-api-key": "bm_0123456789ab_" + "A" * 43}, 401, "API_KEY_INVALID"),
    ],
)
async def test_missing_or_bad_keys_are_401(
    rest: httpx.AsyncClient, settings: Settings, headers: dict[str, str], status: int, reason: str
) -> None:
    before = count_rows(settings, "bots")
    assert_error(await rest.post("/v1/bots", json=BOT, headers=headers), status, reason=reason)
    assert count_rows(settings, "bots") == before


async def test_an_under_scoped_key_is_403(
    rest: httpx.AsyncClient, keys: dict[str, str], settings: Settings
) -> None:
    before = count_rows(settings, "bots")
    assert_error(
        await rest.post("/v1/bots", json=BOT, headers=h(keys["read"])), 403, reason="SCOPE_MISSING"
    )
    # A marketplace key publishes only for a principal it names (it is nobody's author itself).
    assert_error(
        await rest.post("/v1/bots", json=BOT, headers=h(keys["marketplace"])),
        401,
        reason="PRINCIPAL_MISSING",
    )
    assert count_rows(settings, "bots") == before


async def test_a_revoked_key_is_refused_within_five_seconds(
    rest: httpx.AsyncClient, issue_key, engine
) -> None:  # type: ignore[no-untyped-def]
    from mesh.apikey_admin import revoke_key
    from mesh.apikey_store import ApiKeyStore

    key_id, key = await issue_key("read")
    assert (await rest.get("/v1/bots", headers=h(key))).status_code == 200
    await revoke_key(ApiKeyStore(engine), key_id)
    loop = asyncio.get_running_loop()
    start = loop.time()
    while True:
        resp = await rest.get("/v1/bots", headers=h(key))
        if resp.status_code == 401:
            assert_error(resp, 401, reason="API_KEY_REVOKED")
            break
        assert loop.time() - start < 5, "revoked key still accepted after 5 s"
        await asyncio.sleep(0.1)


async def test_rest_answers_over_ipv6_loopback(mesh: Mesh, keys: dict[str, str]) -> None:
    async with httpx.AsyncClient(
        base_url=f"http://[::1]:{mesh.settings.envoy_port}", timeout=10
    ) as v6:
        resp = await v6.get("/v1/bots", params={"page_size": 1}, headers=h(keys["read"]))
    assert resp.status_code == 200, resp.text


async def test_a_rate_limited_key_gets_429_with_a_retry_delay(
    rest: httpx.AsyncClient, issue_key
) -> None:  # type: ignore[no-untyped-def]
    _, key = await issue_key("read", name="slow", rate_limit_per_s=2)
    statuses = [
        (await rest.get("/v1/bots", params={"page_size": 1}, headers=h(key))) for _ in range(8)
    ]
    assert [r.status_code for r in statuses[:4]] == [200] * 4  # the burst: twice the rate
    limited = [r for r in statuses if r.status_code == 429]
    assert limited, [r.status_code for r in statuses]
    body = assert_error(limited[0], 429, reason="RATE_LIMITED")
    retry = next(d for d in body["details"] if d["@type"].endswith("google.rpc.RetryInfo"))
    assert retry["retry_delay"].endswith("s") and float(retry["retry_delay"][:-1]) > 0
