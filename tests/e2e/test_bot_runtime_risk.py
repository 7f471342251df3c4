"""The bot runtime's risk controls, each acting on a crafted price path, seen through Envoy.

One private mesh with the runtime on and exchange_sim at 60x (a 1-minute candle closes
every second) serves the whole file; each test rents its own bot with its risk limits set
and drives a market's price through exchange_sim's admin API (tests/e2e/risk_support.py):
a fall then a jump up is the strategy's BUY, and after the bot holds a position the test
moves the price where the control must act.

- Stop-loss: a candle whose low falls through entry x (1 - stop_loss) makes the bot sell;
  the decision is CLOSED by RISK_RULE_STOP_LOSS and a risk event says so.
- Take-profit: likewise on a candle whose high reaches entry x (1 + take_profit).
- Kill switch: equity max_drawdown_pct below its peak closes the position and pauses the
  subscription (BOT_STATE_PAUSED, reason MAX_DRAWDOWN, with a message; the subscription
  itself PAUSED with state_reason RISK_MAX_DRAWDOWN; a RISK_OUTCOME_PAUSED event); no order
  follows; the principal's resume sets the bot running again.
- Cooldown: after a losing trade, an entry signal is BLOCKED with COOLDOWN.
- Allocation cap: a stake larger than the allocation is BLOCKED with ALLOCATION_CAP.
- Order failures: an exchange account without funds refuses every entry, and after
  MAX_FAILURES refusals in a row the bot pauses its subscription with ORDER_FAILURES.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import pytest
from botmesh.trading.v1 import resources_pb2 as pb

from cli.launcher import Mesh
from tests.e2e.private_mesh import PrivateMeshes
from tests.e2e.risk_support import (
    CANDLE_S,
    SIM_SPEED,
    Bot,
    RiskWorld,
    as_json,
    decisions,
    risk_world,
    risks,
)
from tests.e2e.runtime_support import eventually, keys_of, start_runtime_mesh
from trading_svc.runtime.state import MAX_FAILURES


def bot(name: str, stake: str = "40", **limits: Any) -> dict[str, Any]:
    return {
        "name": name,
        "strategy": "ma_crossover",
        "strategy_params": {"fast": "2", "slow": "3"},
        "timeframe": "1m",
        "stake": {"fixed_quote": stake},
        "risk_limits": limits,
    }


@pytest.fixture(scope="module")
def runtime_mesh(scratch_database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:  # type: ignore[no-untyped-def]
    meshes = PrivateMeshes(scratch_database, lambda: tmp_path_factory.mktemp("risk-mesh"))
    try:
        yield start_runtime_mesh(meshes, sim_speed=SIM_SPEED)
    finally:
        meshes.stop_all()


@pytest.fixture(scope="module")
async def world(runtime_mesh: Mesh) -> AsyncIterator[RiskWorld]:
    async with risk_world(runtime_mesh, await keys_of(runtime_mesh)) as made:
        yield made


def blocked(events: list[pb.BotEvent]) -> bool:
    """A risk control blocked an entry."""
    return any(r.outcome == pb.RISK_OUTCOME_BLOCKED for r in risks(events))


async def flat(world: RiskWorld, rented: Bot) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        status = await world.status(rented)
        return status if Decimal(status.get("position", "0")) == 0 else None

    return dict(await eventually(check, "the position closed", timeout_s=15 * CANDLE_S))


async def test_a_stop_loss_sells_when_a_candle_falls_through_it(world: RiskWorld) -> None:
    rented = await world.rent(bot("stop-loss", stop_loss_pct="0.05"), "BTC-USDT")
    async with world.pilot("BTC-USDT") as path:
        entry = await world.enter(rented, path)
        await path.jump(entry * Decimal("0.92"))
        await flat(world, rented)

    events = await world.events(rented, lambda got: bool(risks(got)))
    closed = [d for d in decisions(events) if d.HasField("risk")]
    assert len(closed) == 1
    decision = closed[0]
    assert (decision.outcome, decision.reason, decision.side) == ("CLOSED", "STOP_LOSS", "sell")
    assert decision.risk.rule == pb.RISK_RULE_STOP_LOSS
    assert decision.risk.outcome == pb.RISK_OUTCOME_CLOSED
    (action,) = risks(events)
    assert (action.rule, action.outcome) == (pb.RISK_RULE_STOP_LOSS, pb.RISK_OUTCOME_CLOSED)
    assert "stop-loss" in action.message and action.candle_time == decision.candle_time

    sold = next(o for o in await world.orders(rented) if o["order_id"] == decision.order_id)
    assert sold["side"] == "ORDER_SIDE_SELL" and sold["state"] == "ORDER_STATE_FILLED"
    assert Decimal(sold["average_price"]) < entry * Decimal("0.95")
    assert (await world.status(rented))["state"] == "BOT_STATE_RUNNING", "an exit does not halt"


async def test_a_take_profit_sells_when_a_candle_reaches_it(world: RiskWorld) -> None:
    rented = await world.rent(bot("take-profit", take_profit_pct="0.05"), "ETH-USDT")
    async with world.pilot("ETH-USDT") as path:
        entry = await world.enter(rented, path)
        await path.jump(entry * Decimal("1.08"))
        await flat(world, rented)

    events = await world.events(rented, lambda got: bool(risks(got)))
    (decision,) = [d for d in decisions(events) if d.HasField("risk")]
    assert (decision.outcome, decision.reason, decision.side) == ("CLOSED", "TAKE_PROFIT", "sell")
    assert decision.risk.rule == pb.RISK_RULE_TAKE_PROFIT
    (action,) = risks(events)
    assert (action.rule, action.outcome) == (pb.RISK_RULE_TAKE_PROFIT, pb.RISK_OUTCOME_CLOSED)
    sold = next(o for o in await world.orders(rented) if o["order_id"] == decision.order_id)
    assert Decimal(sold["average_price"]) > entry * Decimal("1.05")


async def test_the_kill_switch_pauses_the_subscription_until_its_principal_resumes_it(
    world: RiskWorld,
) -> None:
    rented = await world.rent(bot("kill switch", stake="100", max_drawdown_pct="0.05"), "SOL-USDT")
    async with world.pilot("SOL-USDT") as path:
        entry = await world.enter(rented, path)
        await path.jump(entry * Decimal("0.75"))  # 25 lost on a stake of 100: 10 % of 250

        async def halted() -> dict[str, Any] | None:
            status = await world.status(rented)
            return status if status["state"] == "BOT_STATE_PAUSED" else None

        status = await eventually(halted, "the pause", timeout_s=15 * CANDLE_S)
        assert status["reason"] == "MAX_DRAWDOWN"
        assert "below its peak" in status["message"] and "limit 5%" in status["message"]
        assert Decimal(status["position"]) == 0, "the kill switch closed the position"
        orders = len(await world.orders(rented))

        sub = await world.rest.get(
            f"/v1/subscriptions/{rented.subscription_id}", headers=rented.headers
        )
        assert sub.json()["subscription"]["state"] == "SUBSCRIPTION_STATE_PAUSED"
        assert (
            sub.json()["subscription"]["state_reason"]
            == "SUBSCRIPTION_STATE_REASON_RISK_MAX_DRAWDOWN"
        )
        # The path turns up again: a BUY the paused bot must not act on.
        await path.golden_cross()
        seen = await world.sse_events(
            rented,
            lambda got: any(e.get("status", {}).get("state") == "BOT_STATE_PAUSED" for e in got),
        )
    assert len(await world.orders(rented)) == orders, "no order after the kill switch"
    paused = [e["risk"] for e in seen if "risk" in e]
    assert [(r["rule"], r["outcome"]) for r in paused] == [
        ("RISK_RULE_MAX_DRAWDOWN", "RISK_OUTCOME_PAUSED")
    ]
    assert "below its peak" in paused[0]["message"]
    (closing,) = [e["decision"] for e in seen if "risk" in e.get("decision", {})]
    assert (closing["outcome"], closing["reason"], closing["side"]) == (
        "CLOSED",
        "MAX_DRAWDOWN",
        "sell",
    )
    assert closing["risk"]["outcome"] == "RISK_OUTCOME_PAUSED" and closing["order_id"]
    after = [e["decision"] for e in seen if "decision" in e]
    after = after[after.index(closing) + 1 :]
    assert all(d["outcome"] == "SKIPPED" for d in after), "nothing but skipped ticks after it"
    # Status changes: one per subscription change (each shows the subscription as it stands
    # when published, so their early states race with the payment), then the kill switch's.
    changes = [e["status"] for e in seen if "status" in e]
    pauses = [c for c in changes if c["state"] == "BOT_STATE_PAUSED"]
    assert pauses and {c["reason"] for c in pauses} == {"MAX_DRAWDOWN"}

    await world.action(rented, "resume")

    async def running() -> bool:
        status = await world.status(rented)
        return status["state"] == "BOT_STATE_RUNNING" and not status.get("reason")

    await eventually(running, "the bot running again after the resume", timeout_s=15 * CANDLE_S)


async def test_a_cooldown_after_a_losing_trade_blocks_entries(world: RiskWorld) -> None:
    limits = {"stop_loss_pct": "0.05", "cooldown_seconds": 3600}
    rented = await world.rent(bot("cooldown", **limits), "BTC-USDT")
    async with world.pilot("BTC-USDT") as path:
        entry = await world.enter(rented, path)
        await path.jump(entry * Decimal("0.92"))  # the stop-loss sells at a loss
        await flat(world, rented)
        orders = len(await world.orders(rented))
        events = await world.cross_until(rented, path, blocked)
    (decision,) = [d for d in decisions(events) if d.outcome == "BLOCKED"]
    assert (decision.action, decision.reason) == ("BUY", "COOLDOWN")
    assert decision.risk.rule == pb.RISK_RULE_COOLDOWN
    assert decision.risk.outcome == pb.RISK_OUTCOME_BLOCKED
    assert [r.rule for r in risks(events)] == [pb.RISK_RULE_STOP_LOSS, pb.RISK_RULE_COOLDOWN]
    assert "no entry before" in risks(events)[-1].message
    assert len(await world.orders(rented)) == orders, "the blocked entry placed no order"


async def test_the_allocation_cap_blocks_a_stake_larger_than_the_allocation(
    world: RiskWorld,
) -> None:
    rented = await world.rent(bot("too big a stake", stake="400"), "ETH-USDT", allocation="250")
    async with world.pilot("ETH-USDT") as path:
        events = await world.cross_until(rented, path, blocked)
    (decision,) = [d for d in decisions(events) if d.outcome == "BLOCKED"]
    assert (decision.action, decision.reason) == ("BUY", "ALLOCATION_CAP")
    assert decision.risk.rule == pb.RISK_RULE_ALLOCATION_CAP
    assert decision.risk.outcome == pb.RISK_OUTCOME_BLOCKED
    assert "free allocation 250" in decision.risk.message
    assert [r.rule for r in risks(events)] == [pb.RISK_RULE_ALLOCATION_CAP]
    assert await world.orders(rented) == []


async def test_orders_refused_again_and_again_pause_the_subscription(world: RiskWorld) -> None:
    rented = await world.rent(bot("no funds"), "SOL-USDT")
    await world.admin.set_balances(rented.renter.exchange_api_key, {"USDT": "0"})

    async def halted() -> dict[str, Any] | None:
        status = await world.status(rented)
        return status if status["state"] == "BOT_STATE_PAUSED" else None

    async with world.pilot("SOL-USDT") as path:
        for _ in range(MAX_FAILURES + 3):
            await path.golden_cross()
            if await halted():
                break
        status = await eventually(halted, "the halt", timeout_s=15 * CANDLE_S)
    assert status["reason"] == "ORDER_FAILURES"
    assert f"{MAX_FAILURES} orders in a row were refused" in status["message"]

    events = await world.events(rented, lambda got: bool(risks(got)))
    failed = [d for d in decisions(events) if d.outcome == "FAILED"]
    assert [d.reason for d in failed] == ["INSUFFICIENT_FUNDS"] * (MAX_FAILURES - 1) + [
        "ORDER_FAILURES"
    ]
    assert as_json(failed[-1].risk)["outcome"] == "RISK_OUTCOME_PAUSED"
    (action,) = risks(events)
    assert (action.rule, action.outcome) == (pb.RISK_RULE_ORDER_FAILURES, pb.RISK_OUTCOME_PAUSED)
