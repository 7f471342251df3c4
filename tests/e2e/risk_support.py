"""Crafted price paths for the risk controls' end-to-end tests, and a renter's view of its
bot through Envoy (status, orders, the event stream over gRPC and SSE).

The bots here run a fast-2/slow-3 SMA crossover on 1-minute candles, which close every
CANDLE_S seconds on exchange_sim's SIM_SPEED clock: slow enough that a loaded machine's late
scheduler round still reads each close alone (two closes read in one round make the older
one stale, and a crossover's BUY lives on one candle only). A `PricePilot` sets its market on a trend (the sim's
TREND override: a fixed drift per sim minute), so each candle closes above (or below) the one
before by the sim's own clock, however late this process sends its next command. While the
path rises the fast average stays above the slow one, and while it falls below it: the
strategy says BUY or SELL only where the test turns the path. A flat path would not do: on
equal closes TA-Lib's running sums leave the two averages a rounding error apart, of either
sign, and that can read as a cross.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import grpc
import httpx
from botmesh.trading.v1 import resources_pb2 as pb
from botmesh.trading.v1 import trading_service_pb2 as tr
from botmesh.trading.v1 import trading_service_pb2_grpc as tr_rpc
from google.protobuf.json_format import MessageToDict

from cli.launcher import Mesh
from exchange_sim.admin import AdminClient
from tests.e2e.runtime_support import SimHandle, eventually
from tests.e2e.subscription_support import Renter, make_renter, payment
from tests.e2e.vault_support import make_listing

SIM_SPEED = 30.0
CANDLE_S = 60 / SIM_SPEED
TICK = Decimal("0.01")  # every sim market's price tick
RISE = Decimal("0.001")  # per candle: far from any limit in a test
FALL = Decimal("-0.0033")
FALL_S = 2.5 * CANDLE_S  # falling this long spans at least two candles
JUMP = Decimal("1.02")  # a jump up this big after a fall is a golden cross


class PricePilot:
    """Drives one exchange_sim market (`symbol` as the sim names it, "BTCUSDT") along a
    crafted path from its current price, until the block ends and the market goes back to
    its seeded path."""

    def __init__(self, admin: AdminClient, symbol: str) -> None:
        self._admin = admin
        self.symbol = symbol

    async def __aenter__(self) -> PricePilot:
        await self.jump(await self.price(), RISE)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._admin.release_price(self.symbol)

    async def price(self) -> Decimal:
        markets = {m["symbol"]: m for m in await self._admin.markets()}
        return Decimal(markets[self.symbol]["price"])

    async def jump(self, price: Decimal, then: Decimal = RISE) -> None:
        """Moves the price to `price` at once, then on by `then` a candle."""
        await self._admin.set_price(
            self.symbol, price.quantize(TICK, ROUND_HALF_UP), drift_per_minute=then
        )

    async def golden_cross(self) -> None:
        """Falls for a few candles, then jumps up and rises: the strategy's BUY."""
        await self.jump(await self.price(), FALL)
        await asyncio.sleep(FALL_S)
        await self.jump(await self.price() * JUMP)


@dataclass
class Bot:
    """A rented bot as its renter sees it."""

    renter: Renter
    subscription_id: str
    market: str

    @property
    def headers(self) -> dict[str, str]:
        return self.renter.headers


class RiskWorld:
    """A runtime mesh, its keys, and clients of its Envoy (REST and gRPC) and exchange_sim."""

    def __init__(
        self,
        mesh: Mesh,
        keys: dict[str, str],
        rest: httpx.AsyncClient,
        channel: grpc.aio.Channel,
        admin: AdminClient,
    ) -> None:
        self.mesh = mesh
        self.keys = keys
        self.rest = rest
        self.stub = tr_rpc.TradingServiceStub(channel)
        self.admin = admin

    def pilot(self, market: str) -> PricePilot:
        return PricePilot(self.admin, market.replace("-", ""))

    async def rent(self, bot: dict[str, Any], market: str, allocation: str = "250") -> Bot:
        """A new renter (1000 USDT on exchange_sim) of a freshly published `bot` on
        `market`, subscribed and paid; returns once the bot has decided its first candle."""
        renter = await make_renter(
            self.rest, self.keys, SimHandle(self.mesh.settings.exchange_sim_url)
        )
        published = await self.rest.post(
            "/v1/bots",
            json={**bot, "markets": [market]},
            headers={"x-api-key": self.keys["bots:write"]},
        )
        assert published.status_code == 200, published.text
        bot_id = published.json()["bot"]["bot_id"]
        listing = await make_listing(self.rest, self.keys["bots:write"], bot_id)
        body = {
            "bot_id": bot_id,
            "listing_id": listing["listing_id"],
            "credential_id": renter.credential_id,
            "market": market,
            "allocation": allocation,
        }
        sub = await self.rest.post("/v1/subscriptions", json=body, headers=renter.headers)
        assert sub.status_code == 200, sub.text
        sid = sub.json()["subscription"]["subscription_id"]
        paid = await self.rest.post(
            f"/v1/subscriptions/{sid}/payments", json=payment(), headers=renter.headers
        )
        assert paid.status_code == 200, paid.text
        rented = Bot(renter, sid, market)

        async def deciding() -> bool:
            return "last_decision" in await self.status(rented)

        await eventually(deciding, "the bot's first decision", timeout_s=30)
        return rented

    async def status(self, bot: Bot) -> dict[str, Any]:
        resp = await self.rest.get(
            f"/v1/subscriptions/{bot.subscription_id}/status", headers=bot.headers
        )
        assert resp.status_code == 200, resp.text
        return dict(resp.json()["status"])

    async def orders(self, bot: Bot) -> list[dict[str, Any]]:
        resp = await self.rest.get(
            f"/v1/subscriptions/{bot.subscription_id}/orders", headers=bot.headers
        )
        assert resp.status_code == 200, resp.text
        return list(resp.json().get("orders", []))

    async def enter(self, bot: Bot, path: PricePilot) -> Decimal:
        """Turns the path into golden crosses until the bot holds a position; its entry
        price."""

        async def holding() -> str:
            status = await self.status(bot)
            return (
                str(status.get("entry_price", ""))
                if Decimal(status.get("position", "0")) > 0
                else ""
            )

        for _ in range(4):
            # Once it has bought, another cross would first fall: a death cross or a stop
            # could sell at a loss (and a cooldown would block every later entry). Wait.
            if not any(o.get("side") == "ORDER_SIDE_BUY" for o in await self.orders(bot)):
                await path.golden_cross()
            with contextlib.suppress(AssertionError):
                return Decimal(await eventually(holding, "the bot's entry", timeout_s=4 * CANDLE_S))
        seen = await self.decided(bot)
        raise AssertionError(f"the bot never entered on a golden cross; it decided {seen}")

    async def cross_until(
        self, bot: Bot, path: PricePilot, until: Callable[[list[pb.BotEvent]], bool]
    ) -> list[pb.BotEvent]:
        """Turns the path into golden crosses until the bot's events satisfy `until` (a
        candle the scheduler reads late is decided as stale, never traded: one more cross
        then does it); those events."""
        for _ in range(4):
            await path.golden_cross()
            got = await self.events(bot, until, timeout_s=4 * CANDLE_S, strict=False)
            if until(got):
                return got
        raise AssertionError(f"the golden crosses never did it; it decided {summary(got)}")

    async def action(self, bot: Bot, verb: str) -> None:
        resp = await self.rest.post(
            f"/v1/subscriptions/{bot.subscription_id}:{verb}", json={}, headers=bot.headers
        )
        assert resp.status_code == 200, resp.text

    async def events(
        self,
        bot: Bot,
        until: Callable[[list[pb.BotEvent]], bool],
        timeout_s: float = 20,
        strict: bool = True,
    ) -> list[pb.BotEvent]:
        """The bot's events over gRPC through Envoy, from the stream's start, until `until`
        holds for those read (or, unless `strict`, those read within the timeout)."""
        got: list[pb.BotEvent] = []

        async def read() -> None:
            call = self.stub.StreamEvents(
                tr.StreamEventsRequest(subscription_id=bot.subscription_id, after="0"),
                metadata=tuple(bot.headers.items()),
            )
            async for item in call:
                if item.HasField("event"):
                    got.append(item.event)
                    if until(got):
                        call.cancel()
                        return

        try:
            await asyncio.wait_for(read(), timeout_s)
        except TimeoutError:
            if strict:
                raise AssertionError(
                    f"the awaited events never came; the last decisions: {summary(got)}"
                ) from None
        return got

    async def decided(self, bot: Bot) -> list[str]:
        """Its last decisions in short, for failure messages."""
        return summary(await self.events(bot, lambda _: False, timeout_s=2, strict=False))

    async def sse_events(
        self, bot: Bot, until: Callable[[list[dict[str, Any]]], bool], timeout_s: float = 20
    ) -> list[dict[str, Any]]:
        """As `events`, over SSE through Envoy (the JSON a browser gets)."""
        got: list[dict[str, Any]] = []

        async def read() -> None:
            async with self.rest.stream(
                "GET",
                f"/v1/subscriptions/{bot.subscription_id}/events:stream",
                params={"after": "0"},
                headers=bot.headers,
            ) as resp:
                assert resp.status_code == 200
                async for line in resp.aiter_lines():
                    if line.startswith("data:"):
                        item = json.loads(line[5:])
                        if "event" in item:
                            got.append(item["event"])
                            if until(got):
                                return

        try:
            await asyncio.wait_for(read(), timeout_s)
        except TimeoutError:
            raise AssertionError(f"the awaited events never came; got {len(got)}") from None
        return got


def decisions(events: list[pb.BotEvent]) -> list[pb.Decision]:
    return [e.decision for e in events if e.HasField("decision")]


def summary(events: list[pb.BotEvent], last: int = 12) -> list[str]:
    """The last decisions in short ("BUY:BLOCKED:COOLDOWN"), for failure messages."""
    return [f"{d.action}:{d.outcome}:{d.reason}" for d in decisions(events)[-last:]]


def risks(events: list[pb.BotEvent]) -> list[pb.RiskAction]:
    return [e.risk for e in events if e.HasField("risk")]


def as_json(message: Any) -> dict[str, Any]:
    return MessageToDict(message, preserving_proto_field_name=True)


@contextlib.asynccontextmanager
async def risk_world(mesh: Mesh, keys: dict[str, str]) -> AsyncIterator[RiskWorld]:
    async with (
        httpx.AsyncClient(base_url=mesh.rest_url, timeout=30) as rest,
        grpc.aio.insecure_channel(f"127.0.0.1:{mesh.settings.envoy_port}") as channel,
        AdminClient(mesh.settings.exchange_sim_url) as admin,
    ):
        yield RiskWorld(mesh, keys, rest, channel, admin)
