"""`botmesh demo`: the README's marketplace walk-through, scripted, against a running mesh.

It calls REST through Envoy as the ICP marketplace would, and prints every request and answer
(secrets redacted, cli/demo_http.py):
  1. a bot author publishes a bot and lists it at a price per period;
  2. a renter (a fresh ICP principal) registers, stores an exchange_sim API key as an
     exchange credential and verifies it;
  3. the renter rents the bot through its listing and pays for it on the ICP ledger;
  4. the bot trades: the demo waits (up to --wait-for-bot seconds) for the runtime's first
     decision, then places a manual market order within the allocation;
  5. trades, status, performance; a dashboard token, and the subscription's events and live
     prices over Server-Sent Events, as a browser dashboard reads them;
  6. an analysis of the market and a backtest of the strategy over the last week.

Rules it keeps:
- Only public REST routes through Envoy, with the API key and x-principal-id the marketplace
  sends; the one other call is exchange_sim's admin API, to open the account whose key the
  renter registers (a real venue's user would bring their own).
- Every run is new: its own principal, idempotency keys and ledger block, so it can be run
  again on the same mesh.
- It stops at the first step that does not get the answer it needs, and exits 1 naming it.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from cli.demo_http import DemoClient, DemoFailed, redact, shorten
from mesh.principal import format_principal
from mesh.settings import ICP_LEDGER

MARKETPLACE_CANISTER = "qoctq-giaaa-aaaaa-aaaea-cai"
PRICE_E8S = "250000000"  # 2.5 ICP for 30 days
# Seconds the demo waits for its backtest (a week of hourly candles) to finish.
BACKTEST_WAIT_S = 60.0


@dataclass(frozen=True)
class DemoOptions:
    """Where the mesh is and how long to wait for the bot."""

    rest_url: str
    sim_url: str
    api_key: str
    market: str = "BTC-USDT"
    # Seconds to wait for the bot runtime's first decision (0: do not wait). Candles close
    # every minute in real time, every second with `botmesh up --sim-speed 60`.
    wait_for_bot_s: float = 90.0
    sim_admin_token: str | None = None


def new_principal() -> str:
    """A fresh self-authenticating ICP principal in textual form."""
    return format_principal(secrets.token_bytes(29))


async def open_sim_account(options: DemoOptions, say: Callable[[str], None]) -> dict[str, str]:
    """An exchange_sim account with 10,000 USDT, trade-only: the renter's exchange key."""
    headers = {"x-admin-token": options.sim_admin_token} if options.sim_admin_token else {}
    body = {"balances": {"USDT": "10000"}, "can_trade": True, "can_withdraw": False}
    say(f"  > POST {options.sim_url}/admin/accounts   (exchange_sim: the renter's exchange)")
    say(f"    {shorten(body)}")
    async with httpx.AsyncClient(timeout=10) as sim:
        resp = await sim.post(f"{options.sim_url}/admin/accounts", json=body, headers=headers)
    if not resp.is_success:
        raise DemoFailed(f"exchange_sim answered {resp.status_code}: {resp.text[:300]}")
    account: dict[str, str] = resp.json()
    say(f"  < {resp.status_code} {shorten(redact(account))}")
    return account


class Demo:
    """The walk-through's steps, in order; ids found on the way are kept on the instance."""

    def __init__(self, api: DemoClient, options: DemoOptions, say: Callable[[str], None]):
        self.api = api
        self.options = options
        self.say = say
        self.principal = new_principal()
        self.ids: dict[str, str] = {}

    def step(self, title: str) -> None:
        self.say(f"\n== {title}")

    async def publish(self) -> None:
        self.step("A bot author publishes a bot (bots:write) and lists it on a marketplace")
        bot = await self.api.call(
            "POST",
            "/v1/bots",
            {
                "name": "Trend rider (demo)",
                "strategy": "ma_crossover",
                "strategy_params": {"fast": "3", "slow": "5"},
                "markets": [self.options.market],
                "timeframe": "1m",
                "risk_limits": {"stop_loss_pct": "0.05", "max_allocation": "5000"},
                "stake": {"fixed_quote": "100"},
            },
        )
        self.ids["bot"] = bot["bot"]["bot_id"]
        listing = await self.api.call(
            "POST",
            f"/v1/bots/{self.ids['bot']}/listings",
            {
                "canister_id": MARKETPLACE_CANISTER,
                "marketplace_listing_id": f"trend-rider-{secrets.token_hex(3)}",
                "price_e8s": PRICE_E8S,
                "period_days": 30,
            },
        )
        self.ids["listing"] = listing["listing"]["listing_id"]

    async def register(self) -> None:
        self.step(f"A renter ({self.principal}) registers and stores an exchange key")
        p = self.principal
        await self.api.call("POST", "/v1/users", {"display_name": "Ada (demo)"}, principal=p)
        account = await open_sim_account(self.options, self.say)
        credential = await self.api.call(
            "POST",
            "/v1/credentials",
            {
                "exchange": "binance",
                "label": "main",
                "api_key": account["api_key"],
                "api_secret": account["api_secret"],
            },
            principal=p,
        )
        self.ids["credential"] = credential["credential"]["credential_id"]
        self.step("The credential is verified on the exchange (trade yes, withdraw no)")
        verified = await self.api.call(
            "POST", f"/v1/credentials/{self.ids['credential']}:verify", {}, principal=p
        )
        if not verified.get("accepted"):
            raise DemoFailed(f"the credential was refused: {verified.get('refusal_reason')}")

    async def rent_and_pay(self) -> None:
        self.step("The renter rents the bot through its listing (EXPIRED until paid)")
        p = self.principal
        sub = await self.api.call(
            "POST",
            "/v1/subscriptions",
            {
                "bot_id": self.ids["bot"],
                "listing_id": self.ids["listing"],
                "credential_id": self.ids["credential"],
                "market": self.options.market,
                "allocation": "1000",
            },
            principal=p,
        )
        self.ids["subscription"] = sub["subscription"]["subscription_id"]
        self.step("An ICP payment is recorded: the subscription is ACTIVE")
        paid = await self.api.call(
            "POST",
            f"/v1/subscriptions/{self.ids['subscription']}/payments",
            {
                "ledger": ICP_LEDGER,
                "block_index": str(time.time_ns() // 1000 + secrets.randbelow(1000)),
                "amount_e8s": PRICE_E8S,
                "period_days": 30,
            },
            principal=p,
        )
        state = paid["subscription"]["state"]
        if state != "SUBSCRIPTION_STATE_ACTIVE":
            raise DemoFailed(f"the paid subscription is {state}")

    async def trade(self) -> None:
        sub, p = self.ids["subscription"], self.principal
        wait = self.options.wait_for_bot_s
        if wait > 0:
            self.step(f"The bot trades by itself: waiting up to {wait:.0f} s for its decision")
            decision = await self._first_decision(wait)
            self.say(
                f"  the bot decided: {shorten(decision)}"
                if decision
                else f"  no decision within {wait:.0f} s (a candle of the bot's 1m timeframe"
                " must close; `botmesh up --sim-speed 60` closes one a second)"
            )
        self.step("A manual market order within the allocation")
        order = await self.api.call(
            "POST",
            f"/v1/subscriptions/{sub}/orders",
            {"side": "ORDER_SIDE_BUY", "type": "ORDER_TYPE_MARKET", "quantity": "0.002"},
            principal=p,
        )
        if order["order"]["state"] != "ORDER_STATE_FILLED":
            raise DemoFailed(f"the market order is {order['order']['state']}")
        self.step("Trades, status and performance")
        await self.api.call("GET", f"/v1/subscriptions/{sub}/trades", principal=p)
        await self.api.call("GET", f"/v1/subscriptions/{sub}/status", principal=p)
        await self.api.call("GET", f"/v1/subscriptions/{sub}/performance?page_size=5", principal=p)

    async def _first_decision(self, wait_s: float) -> dict[str, Any] | None:
        """The status's last_decision, polled quietly every 2 s until one exists."""
        deadline = time.monotonic() + wait_s
        path = f"/v1/subscriptions/{self.ids['subscription']}/status"
        while True:
            answer = await self.api.peek(path, principal=self.principal)
            decision = (answer or {}).get("status", {}).get("last_decision")
            if decision:
                return dict(decision)
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(min(2.0, max(0.0, deadline - time.monotonic())))

    async def dashboard(self) -> None:
        self.step("A browser dashboard: a read-only token, then Server-Sent Events")
        sub, p = self.ids["subscription"], self.principal
        token = (await self.api.call("POST", "/v1/dashboard-tokens", {}, principal=p))["token"]
        events = await self.api.sse(
            f"/v1/subscriptions/{sub}/events:stream?access_token={token}&after=0",
            until=lambda items: "heartbeat" in items[-1],
            limit=20,
            idle_s=15,
        )
        if not any("event" in item for item in events):
            raise DemoFailed("the event stream sent no event of the subscription")
        ticks = await self.api.sse(
            f"/v1/markets/{self.options.market}/prices:stream?access_token={token}",
            until=lambda items: sum("ticker" in item for item in items) >= 3,
            limit=10,
            idle_s=15,
        )
        if not any("ticker" in item for item in ticks):
            raise DemoFailed("the price stream sent no tick")

    async def analysis(self) -> None:
        self.step("Analysis of the market now, and a backtest of the bot's strategy (read)")
        market = self.options.market
        await self.api.call(
            "POST",
            "/v1/analysis:analyze",
            {"market": market, "timeframe": "1m", "strategy": {"name": "rsi_mean_reversion"}},
        )
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        created = await self.api.call(
            "POST",
            "/v1/backtests",
            {
                "strategy": {"name": "ma_crossover", "params": {"fast": "9", "slow": "21"}},
                "market": market,
                "timeframe": "1h",
                "start_time": (end - timedelta(days=7)).isoformat().replace("+00:00", "Z"),
                "end_time": end.isoformat().replace("+00:00", "Z"),
                "initial_balance": "10000",
            },
        )
        path = f"/v1/backtests/{created['backtest']['backtest_id']}"
        deadline = time.monotonic() + BACKTEST_WAIT_S
        while time.monotonic() < deadline:
            polled = await self.api.peek(path)
            if (polled or {}).get("backtest", {}).get("state") != "BACKTEST_STATE_RUNNING":
                break
            await asyncio.sleep(1)
        done = await self.api.call("GET", path)
        if done["backtest"]["state"] != "BACKTEST_STATE_SUCCEEDED":
            raise DemoFailed(f"the backtest is {done['backtest']['state']}")


async def run_demo(options: DemoOptions, say: Callable[[str], None] = print) -> dict[str, str]:
    """Runs every step; the ids it created. Raises DemoFailed at the first failed step."""
    async with httpx.AsyncClient(base_url=options.rest_url, timeout=30) as client:
        api = DemoClient(client, options.api_key, secrets.token_hex(6), say)
        demo = Demo(api, options, say)
        say(f"botmesh demo against {options.rest_url}")
        await demo.publish()
        await demo.register()
        await demo.rent_and_pay()
        await demo.trade()
        await demo.dashboard()
        await demo.analysis()
        say(f"\ndemo complete: {shorten(demo.ids)}")
        return demo.ids


def main(options: DemoOptions) -> int:
    try:
        asyncio.run(run_demo(options))
    except DemoFailed as exc:
        print(f"\ndemo FAILED: {exc}", file=sys.stderr)
        return 1
    except httpx.TransportError as exc:
        print(
            f"\ndemo FAILED: cannot reach the mesh ({exc!r}); is `make run` going?", file=sys.stderr
        )
        return 1
    return 0
