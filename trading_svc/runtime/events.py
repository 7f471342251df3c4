"""The bot runtime's records as the messages its event stream and GetBotStatus carry."""

from __future__ import annotations

from botmesh.trading.v1 import resources_pb2 as pb

from mesh.decimals import dec_str
from mesh.timestamps import ts
from trading_svc.orders.subscriptions import Subscription
from trading_svc.runtime.decisions import Decided
from trading_svc.runtime.state import RuntimeState


def decision_pb(d: Decided) -> pb.Decision:
    message = pb.Decision(
        action=d.action,
        confidence=d.confidence,
        rationale=d.rationale,
        advisor=d.advisor,
        candle_time=ts(d.candle_time),
        outcome=d.outcome,
        reason=d.reason,
        order_id=d.order_id or "",
        side=d.side,
        quantity=dec_str(d.quantity) if d.quantity is not None else "",
        price=dec_str(d.price) if d.price is not None else "",
    )
    if d.risk_rule:
        message.risk.CopyFrom(risk_pb(d))
    return message


def risk_pb(d: Decided) -> pb.RiskAction:
    return pb.RiskAction(
        rule=pb.RiskRule.Value(f"RISK_RULE_{d.risk_rule}"),
        outcome=pb.RiskOutcome.Value(f"RISK_OUTCOME_{d.risk_outcome}"),
        message=d.risk_message,
        candle_time=ts(d.candle_time),
    )


# Why a subscription that is not trading is not, as GetBotStatus says it.
_STOPPED_REASONS = {
    "PAUSED": "PAUSED_BY_USER",
    "EXPIRED": "NOT_PAID",
}


def bot_state(sub: Subscription, state: RuntimeState) -> tuple[int, str, str]:
    """(BotState, reason, message): the truth about a subscription's bot now."""
    shown = sub.effective_state
    if shown == "ACTIVE" and sub.trading():
        if sub.credential_state != "ACTIVE":
            return pb.BOT_STATE_STOPPED, "CREDENTIAL_NOT_ACTIVE", "the credential is not active"
        if state.halted:
            return pb.BOT_STATE_HALTED, state.halted_reason, state.halted_message
        return pb.BOT_STATE_RUNNING, "", ""
    if shown == "PAUSED":
        rule = (
            sub.state_reason.removeprefix("RISK_") if sub.state_reason.startswith("RISK_") else ""
        )
        if rule:  # paused by a risk control; the runtime kept what it saw
            return pb.BOT_STATE_PAUSED, rule, state.halted_message or f"paused by {rule}"
        return pb.BOT_STATE_PAUSED, "PAUSED_BY_USER", "paused by its principal"
    reason = sub.state_reason or _STOPPED_REASONS.get(shown, shown)
    return pb.BOT_STATE_STOPPED, reason, f"the subscription is {shown.lower()}"


def status_pb(sub: Subscription, state: RuntimeState, last: Decided | None) -> pb.BotStatus:
    code, reason, message = bot_state(sub, state)
    status = pb.BotStatus(
        subscription_id=sub.subscription_id,
        state=code,  # type: ignore[arg-type]
        market=sub.market,
        allocation=dec_str(sub.allocation),
        reason=reason,
        message=message,
        last_tick_time=ts(state.last_tick_time),
    )
    if code in (pb.BOT_STATE_RUNNING, pb.BOT_STATE_HALTED) and state.next_tick_time:
        status.next_tick_time.CopyFrom(ts(state.next_tick_time))
    if last is not None:
        status.last_decision.CopyFrom(decision_pb(last))
    return status
