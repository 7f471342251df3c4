"""The rented bots of the bot-runtime benchmark, set up through the public REST API as the
marketplace does it: an author publishes two bots over every market (a steady one that
mostly holds, a quick one that trades every few candles) and lists them; a few principals
each register a user and a verified credential on an exchange_sim account of their own;
then N subscriptions are made and paid, `concurrency` requests at a time.

Subscription i belongs to principal i mod P and trades market i mod M; in every market,
every `quick_every`-th one rents the quick bot. Every subscription is paid (ACTIVE); accounts hold
far more USDT than their subscriptions' allocations together.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from exchange_sim import AdminClient
from mesh.principal import format_principal

LEDGER = "ryjl3-tyaaa-aaaaa-aaaba-cai"
PRICE_E8S = "100000000"
ALLOCATION = "200"
ACCOUNT_USDT = "100000000"
# Crosses rarely on 1-minute candles: HOLD on almost every tick.
STEADY = {"strategy": "ma_crossover", "strategy_params": {"fast": "10", "slow": "30"}}
# Crosses every few candles on the sim's random walk: orders happen.
QUICK = {"strategy": "ma_crossover", "strategy_params": {"fast": "2", "slow": "3"}}


@dataclass
class Renter:
    principal: str
    credential_id: str


@dataclass
class World:
    """What was made, and how long making it took."""

    markets: list[str]
    subscriptions: dict[str, tuple[str, str]] = field(default_factory=dict)  # id: market, bot
    setup_s: float = 0.0
    distinct_strategies: int = 0


class Api:
    """POSTs through Envoy that must answer 200."""

    def __init__(self, rest: httpx.AsyncClient) -> None:
        self.rest = rest

    async def post(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
        for attempt in itertools.count():
            resp = await self.rest.post(path, json=body, headers=headers)
            if resp.status_code in (429, 503) and attempt < 5:  # transient: retry
                await asyncio.sleep(0.2 * (attempt + 1))
                continue
            if resp.status_code != 200:
                raise RuntimeError(f"POST {path}: {resp.status_code} {resp.text[:300]}")
            return resp.json()
        raise AssertionError("unreachable")


async def publish(api: Api, author_key: str, markets: list[str]) -> dict[str, tuple[str, str]]:
    """The steady and the quick bot over every market, listed: {kind: (bot_id, listing_id)}."""
    made = {}
    for kind, spec in (("steady", STEADY), ("quick", QUICK)):
        body = {
            "name": f"bench {kind}",
            **spec,
            "markets": markets,
            "timeframe": "1m",
            "stake": {"fixed_quote": "20"},
        }
        bot = (await api.post("/v1/bots", body, {"x-api-key": author_key}))["bot"]
        listing = (
            await api.post(
                f"/v1/bots/{bot['bot_id']}/listings",
                {
                    "canister_id": "qoctq-giaaa-aaaaa-aaaea-cai",
                    "marketplace_listing_id": f"bench-{os.urandom(6).hex()}",
                    "price_e8s": PRICE_E8S,
                    "period_days": 30,
                },
                {"x-api-key": author_key},
            )
        )["listing"]
        made[kind] = (bot["bot_id"], listing["listing_id"])
    return made


async def register(api: Api, key: str, sim: AdminClient) -> Renter:
    """A principal with a user and a verified credential on a well-funded sim account."""
    principal = format_principal(os.urandom(29))
    who = {"x-api-key": key, "x-principal-id": principal}
    await api.post("/v1/users", {"display_name": "bench renter"}, who)
    account = await sim.create_account({"USDT": ACCOUNT_USDT})
    body = {"exchange": "binance", "api_key": account.api_key, "api_secret": account.api_secret}
    credential = (await api.post("/v1/credentials", body, who))["credential"]
    verified = await api.post(f"/v1/credentials/{credential['credential_id']}:verify", {}, who)
    if not verified.get("accepted"):
        raise RuntimeError(f"credential refused: {verified}")
    return Renter(principal, credential["credential_id"])


async def make_world(
    rest: httpx.AsyncClient,
    sim_url: str,
    keys: dict[str, str],
    *,
    bots: int,
    markets: list[str],
    principals: int,
    quick_every: int,
    concurrency: int,
) -> World:
    """`bots` paid subscriptions over `markets`; see the module docstring."""
    api = Api(rest)
    world = World(markets)
    started = time.monotonic()
    listed = await publish(api, keys["bots:write"], markets)
    async with AdminClient(sim_url) as sim:
        renters = await asyncio.gather(
            *(register(api, keys["marketplace"], sim) for _ in range(principals))
        )
    gate = asyncio.Semaphore(concurrency)
    kinds: set[tuple[str, str]] = set()

    async def rent(i: int) -> None:
        renter = renters[i % principals]
        market = markets[i % len(markets)]
        kind = "quick" if quick_every and (i // len(markets)) % quick_every == 0 else "steady"
        bot_id, listing_id = listed[kind]
        who = {"x-api-key": keys["marketplace"], "x-principal-id": renter.principal}
        terms = {
            "bot_id": bot_id,
            "listing_id": listing_id,
            "credential_id": renter.credential_id,
            "market": market,
            "allocation": ALLOCATION,
        }
        async with gate:
            sub = (await api.post("/v1/subscriptions", terms, who))["subscription"]
            sid = sub["subscription_id"]
            pay = {
                "ledger": LEDGER,
                "block_index": str(1_000_000 + i),
                "amount_e8s": PRICE_E8S,
                "period_days": 30,
            }
            paid = await api.post(f"/v1/subscriptions/{sid}/payments", pay, who)
        if paid["subscription"]["state"] != "SUBSCRIPTION_STATE_ACTIVE":
            raise RuntimeError(f"{sid} is not active after payment: {paid['subscription']}")
        world.subscriptions[sid] = (market, kind)
        kinds.add((market, kind))

    await asyncio.gather(*(rent(i) for i in range(bots)))
    world.setup_s = time.monotonic() - started
    world.distinct_strategies = len(kinds)
    return world
