"""Idempotency is bound to the caller: a two-caller matrix over every POST, PATCH and DELETE
route of the contract, through Envoy, on MariaDB.

For each route, caller A sends a request with an Idempotency-Key, then caller B sends the
very same request (path and body) with the same key through the same marketplace API key,
naming another principal. B's request is executed for B: B never receives A's answer, each
caller replays only its own answer, and the table holds one record per caller. Routes that act
for no principal (bots:write) show the same with two API keys instead. The routes come from the
descriptor set, so a new mutation fails `test_every_mutating_route_is_in_the_matrix` until it
has a case here.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from mesh import dashboard_tokens
from mesh.ids import new_id
from mesh.settings import Settings
from tests.e2e.idempotency_support import (
    Call,
    Party,
    as_recorded,
    mutating_routes,
    recorded_callers,
)
from tests.e2e.subscription_support import make_renter, pay, payment, subscribe, terms
from tests.e2e.test_analysis_rest import backtest_body
from tests.e2e.trading_support import idem, open_account
from tests.e2e.vault_support import new_principal, register

Check = Callable[[httpx.Response, httpx.Response], Awaitable[None]]
LIMIT_ORDER = {
    "side": "ORDER_SIDE_BUY",
    "type": "ORDER_TYPE_LIMIT",
    "quantity": "0.001",
    "price": "10000",
}


@dataclass
class World:
    rest: httpx.AsyncClient
    keys: dict[str, str]
    engine: Any
    exchange_sim: Any
    settings: Settings
    issue_key: Any

    def marketplace(self, principal: str) -> Party:
        return Party(self.keys["marketplace"], principal)

    async def two_principals(self, *, registered: bool = True) -> tuple[Party, Party]:
        a, b = self.marketplace(new_principal()), self.marketplace(new_principal())
        if registered:
            for party in (a, b):
                await register(self.rest, party.key, party.principal)
        return a, b

    async def renter_and_stranger(self) -> tuple[Any, Party, Party]:
        """A renter (A) with a verified credential and a bot, and a registered B."""
        renter = await make_renter(self.rest, self.keys, self.exchange_sim)
        b = self.marketplace(new_principal())
        await register(self.rest, b.key, b.principal)
        return renter, self.marketplace(renter.principal), b

    async def paid_subscription(self) -> tuple[str, Party, Party]:
        renter, a, b = await self.renter_and_stranger()
        sub = await subscribe(self.rest, renter)
        await pay(self.rest, renter, sub["subscription_id"])
        return sub["subscription_id"], a, b

    async def trading_account(self) -> tuple[Any, Party, Party]:
        async with self.exchange_sim.admin() as admin:
            account = await open_account(self.rest, self.keys, self.engine, admin)
        b = self.marketplace(new_principal())
        await register(self.rest, b.key, b.principal)
        return account, self.marketplace(account.principal), b

    async def two_authors(self) -> tuple[Party, Party]:
        return (
            Party((await self.issue_key("bots:write", name="author a"))[1]),
            Party((await self.issue_key("bots:write", name="author b"))[1]),
        )


async def differs(a: httpx.Response, b: httpx.Response) -> None:
    assert a.content != b.content


async def not_found_for_b(a: httpx.Response, b: httpx.Response) -> None:
    """B sent A's request about A's object: B's own execution cannot see it."""
    assert b.status_code == 404, b.text
    assert a.content != b.content


Case = Callable[[World], Awaitable[tuple[Call, Party, Party, Check]]]


async def create_user(w: World) -> tuple[Call, Party, Party, Check]:
    a, b = await w.two_principals(registered=False)

    async def check(ra: httpx.Response, rb: httpx.Response) -> None:
        assert rb.status_code == 200, rb.text
        assert rb.json()["user"]["user_id"] != ra.json()["user"]["user_id"]
        me = await w.rest.get("/v1/users/me", headers=b.headers)
        assert me.json()["user"]["user_id"] == rb.json()["user"]["user_id"]

    return Call("POST", "/v1/users", {"display_name": "Ada"}), a, b, check


async def delete_user(w: World) -> tuple[Call, Party, Party, Check]:
    a, b = await w.two_principals()

    async def check(ra: httpx.Response, rb: httpx.Response) -> None:
        assert rb.status_code == 200, rb.text
        assert rb.json()["user"]["user_id"] != ra.json()["user"]["user_id"]
        for party in (a, b):  # both really erased
            assert (await w.rest.get("/v1/users/me", headers=party.headers)).status_code == 404

    return Call("DELETE", "/v1/users/me", None), a, b, check


async def create_credential(w: World) -> tuple[Call, Party, Party, Check]:
    a, b = await w.two_principals()
    body = {"exchange": "binance", "label": "main", "api_key": "k" * 24, "api_secret": "s" * 32}

    async def check(ra: httpx.Response, rb: httpx.Response) -> None:
        assert rb.status_code == 200, rb.text
        mine = rb.json()["credential"]["credential_id"]
        assert mine != ra.json()["credential"]["credential_id"]
        listed = await w.rest.get("/v1/credentials", headers=b.headers)
        assert [c["credential_id"] for c in listed.json()["credentials"]] == [mine]

    return Call("POST", "/v1/credentials", body), a, b, check


async def delete_credential(w: World) -> tuple[Call, Party, Party, Check]:
    renter, a, b = await w.renter_and_stranger()
    return Call("DELETE", f"/v1/credentials/{renter.credential_id}", None), a, b, not_found_for_b


async def verify_credential(w: World) -> tuple[Call, Party, Party, Check]:
    renter, a, b = await w.renter_and_stranger()
    path = f"/v1/credentials/{renter.credential_id}:verify"
    return Call("POST", path, {}), a, b, not_found_for_b


async def create_dashboard_token(w: World) -> tuple[Call, Party, Party, Check]:
    a, b = await w.two_principals()

    async def check(ra: httpx.Response, rb: httpx.Response) -> None:
        assert rb.status_code == 200, rb.text
        token = rb.json()["token"]
        assert token != ra.json()["token"]
        now = datetime.now(UTC)
        assert dashboard_tokens.verify(w.settings.api_key_pepper, token, now) == b.principal

    return Call("POST", "/v1/dashboard-tokens", {}), a, b, check


async def create_subscription(w: World) -> tuple[Call, Party, Party, Check]:
    renter, a, b = await w.renter_and_stranger()
    return Call("POST", "/v1/subscriptions", terms(renter)), a, b, not_found_for_b


def subscription_case(suffix: str, body: Callable[[], dict[str, Any]]) -> Case:
    async def case(w: World) -> tuple[Call, Party, Party, Check]:
        sub_id, a, b = await w.paid_subscription()
        if suffix == ":resume":
            paused = await Call("POST", f"/v1/subscriptions/{sub_id}:pause", {}).send(w.rest, a)
            assert paused.status_code == 200, paused.text
        return Call("POST", f"/v1/subscriptions/{sub_id}{suffix}", body()), a, b, not_found_for_b

    return case


async def place_order(w: World) -> tuple[Call, Party, Party, Check]:
    account, a, b = await w.trading_account()
    return Call("POST", account.path("/orders"), LIMIT_ORDER), a, b, not_found_for_b


async def cancel_order(w: World) -> tuple[Call, Party, Party, Check]:
    account, a, b = await w.trading_account()
    placed = await w.rest.post(account.path("/orders"), json=LIMIT_ORDER, headers=idem(a.headers))
    assert placed.status_code == 200, placed.text
    order_id = placed.json()["order"]["order_id"]
    return Call("POST", account.path(f"/orders/{order_id}:cancel"), {}), a, b, not_found_for_b


async def analyze(w: World) -> tuple[Call, Party, Party, Check]:
    a, b = await w.two_principals(registered=False)
    # Parameters of this case only, so A's analysis is fresh and B's comes from the cache. A
    # period alone could be the default (14) another test's analysis just cached; an
    # oversold level to the hundredth is this case's own.
    params = {
        "period": str(5 + secrets.randbelow(60)),
        "oversold": f"{10 + secrets.randbelow(3000) / 100:.2f}",
    }
    body = {
        "market": "BTC-USDT",
        "timeframe": "1m",
        "strategy": {"name": "rsi_mean_reversion", "params": params},
    }
    return Call("POST", "/v1/analysis:analyze", body), a, b, differs


async def create_backtest(w: World) -> tuple[Call, Party, Party, Check]:
    a, b = await w.two_principals(registered=False)

    async def check(ra: httpx.Response, rb: httpx.Response) -> None:
        assert rb.status_code == 200, rb.text
        assert rb.json()["backtest"]["backtest_id"] != ra.json()["backtest"]["backtest_id"]

    return Call("POST", "/v1/backtests", backtest_body(hours=48)), a, b, check


async def cancel_backtest(w: World) -> tuple[Call, Party, Party, Check]:
    a, b = await w.two_principals(registered=False)
    long_run = backtest_body(hours=90_000, timeframe="1m", step_s=60)  # runs long enough
    made = await Call("POST", "/v1/backtests", long_run).send(w.rest, a)
    assert made.status_code == 200, made.text
    backtest_id = made.json()["backtest"]["backtest_id"]

    async def check(ra: httpx.Response, rb: httpx.Response) -> None:
        """Cancelling is idempotent in itself, so equal bytes may be B's own answer; the
        records (checked for every route) show B's request was executed for B."""

    return Call("POST", f"/v1/backtests/{backtest_id}:cancel", {}), a, b, check


BOT = {"name": "matrix bot", "strategy": "ma_crossover", "markets": ["BTC-USDT"], "timeframe": "1h"}


async def create_bot(w: World) -> tuple[Call, Party, Party, Check]:
    a, b = await w.two_authors()

    async def check(ra: httpx.Response, rb: httpx.Response) -> None:
        assert rb.status_code == 200, rb.text
        assert rb.json()["bot"]["bot_id"] != ra.json()["bot"]["bot_id"]

    return Call("POST", "/v1/bots", BOT), a, b, check


async def authors_bot(w: World) -> tuple[str, Party, Party]:
    a, b = await w.two_authors()
    made = await Call("POST", "/v1/bots", BOT).send(w.rest, a)
    assert made.status_code == 200, made.text
    return made.json()["bot"]["bot_id"], a, b


async def update_bot(w: World) -> tuple[Call, Party, Party, Check]:
    bot_id, a, b = await authors_bot(w)
    body = {"name": "renamed"}
    return Call("PATCH", f"/v1/bots/{bot_id}?update_mask=name", body), a, b, differs


async def create_listing(w: World) -> tuple[Call, Party, Party, Check]:
    bot_id, a, b = await authors_bot(w)
    listing = {
        "canister_id": "rrkah-fqaaa-aaaaa-aaaaq-cai",
        "marketplace_listing_id": new_id("L"),
        "price_e8s": "100000000",
        "period_days": 30,
    }
    return Call("POST", f"/v1/bots/{bot_id}/listings", listing), a, b, differs


CASES: dict[str, Case] = {
    "botmesh.credential.v1.CredentialService.CreateUser": create_user,
    "botmesh.credential.v1.CredentialService.DeleteUser": delete_user,
    "botmesh.credential.v1.CredentialService.CreateExchangeCredential": create_credential,
    "botmesh.credential.v1.CredentialService.DeleteExchangeCredential": delete_credential,
    "botmesh.credential.v1.CredentialService.VerifyExchangeCredential": verify_credential,
    "botmesh.credential.v1.CredentialService.CreateDashboardToken": create_dashboard_token,
    "botmesh.credential.v1.SubscriptionService.CreateSubscription": create_subscription,
    "botmesh.credential.v1.SubscriptionService.PauseSubscription": subscription_case(
        ":pause", dict
    ),
    "botmesh.credential.v1.SubscriptionService.ResumeSubscription": subscription_case(
        ":resume", dict
    ),
    "botmesh.credential.v1.SubscriptionService.CancelSubscription": subscription_case(
        ":cancel", dict
    ),
    "botmesh.credential.v1.SubscriptionService.RecordPayment": subscription_case(
        "/payments", payment
    ),
    "botmesh.trading.v1.TradingService.PlaceOrder": place_order,
    "botmesh.trading.v1.TradingService.CancelOrder": cancel_order,
    "botmesh.analysis.v1.AnalysisService.Analyze": analyze,
    "botmesh.analysis.v1.AnalysisService.CreateBacktest": create_backtest,
    "botmesh.analysis.v1.AnalysisService.CancelBacktest": cancel_backtest,
    "botmesh.credential.v1.MarketplaceService.CreateBot": create_bot,
    "botmesh.credential.v1.MarketplaceService.UpdateBot": update_bot,
    "botmesh.credential.v1.MarketplaceService.CreateListing": create_listing,
}
ROUTES = mutating_routes()


def test_every_mutating_route_is_in_the_matrix() -> None:
    assert len(ROUTES) >= 19
    assert {r.method for r in ROUTES} == set(CASES)


@pytest.mark.usefixtures("exchange_sim")
@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.method.rsplit(".", 1)[-1])
async def test_one_idempotency_key_two_callers_two_answers(
    route: Any,
    rest: httpx.AsyncClient,
    keys: dict[str, str],
    engine: Any,
    exchange_sim: Any,
    settings: Settings,
    issue_key: Any,
) -> None:
    world = World(rest, keys, engine, exchange_sim, settings, issue_key)
    call, a, b, check = await CASES[route.method](world)
    assert call.verb.lower() == route.verb
    if route.principal_scoped:  # same API key, two principals
        assert a.key == b.key and a.principal != b.principal
    else:  # shown with two principals through one key, or with two keys (bots:write)
        assert a.key != b.key or a.principal != b.principal
    key = new_id("idem")

    first = await call.send(rest, a, key)
    assert first.status_code == 200, first.text
    second = await call.send(rest, b, key)
    assert second.status_code < 500, second.text
    await check(first, second)

    # Each caller replays its own answer, byte for byte, and only its own.
    assert (await call.send(rest, a, key)).content == first.content
    assert (await call.send(rest, b, key)).content == second.content
    assert await recorded_callers(engine, settings, key) == {
        as_recorded(settings, a),
        as_recorded(settings, b),
    }
