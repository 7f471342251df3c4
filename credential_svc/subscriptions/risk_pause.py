"""PauseForRisk: the bot runtime pauses a subscription for one of its risk controls (the
max-drawdown kill switch, orders refused again and again), with the reason kept on the
subscription until its principal resumes it (model.paused_for_risk, model.resumed).

The runtime acts for no principal, so the subscription is found by its id alone (the
internal access rule in the proto admits only the internal identity). The pause, its audit
row ("subscription.pause_for_risk": the reason, the control's message and the runtime as
actor) and its change-stream entry ("paused_for_risk") commit in one transaction, or
nothing does; a pause that changes nothing (already PAUSED) writes, audits and announces
nothing. The answer is the trading view, read after the commit by the same one function as
GetTradingSubscription (trading_view.py), so the runtime sees `may_trade` false at once.
"""

from __future__ import annotations

from dataclasses import replace

from credential_svc.subscriptions import model
from credential_svc.subscriptions.model import SubscriptionRecord
from credential_svc.subscriptions.store import SubscriptionStore
from credential_svc.subscriptions.trading_view import TradingSubscriptions, TradingView
from mesh.db import utcnow
from mesh.errors import NotFound

ACTION = "subscription.pause_for_risk"
CHANGE = "paused_for_risk"
ACTOR = "bot_runtime"


class RiskPauses:
    def __init__(self, store: SubscriptionStore, views: TradingSubscriptions) -> None:
        self._store = store
        self._views = views

    async def pause(self, subscription_id: str, reason: str, message: str) -> TradingView:
        """Pauses the ACTIVE subscription for `reason` (a RISK_* one); see the module doc."""
        model.check_risk_reason(reason)
        now = utcnow()

        def decide(sub: SubscriptionRecord) -> SubscriptionRecord:
            after = model.paused_for_risk(sub, reason)
            return replace(after, update_time=now) if model.changed(sub, after) else sub

        detail = {"actor": ACTOR, "message": message}
        change = await self._store.transition(None, subscription_id, decide, ACTION, CHANGE, detail)
        if change is None:
            raise NotFound(
                f"subscription {subscription_id} does not exist", reason="SUBSCRIPTION_NOT_FOUND"
            )
        return await self._views.get(subscription_id)
