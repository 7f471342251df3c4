"""Users, credentials and subscriptions to protobuf. Credentials map from the record's
masked fields only: the sealed secret has no protobuf counterpart at all."""

from __future__ import annotations

from botmesh.credential.v1 import internal_service_pb2 as internal_pb
from botmesh.credential.v1 import resources_pb2 as pb

from credential_svc.identity.store import UserRecord
from credential_svc.servicers.convert import risk_to_pb, stake_to_pb
from credential_svc.subscriptions.trading_view import TradingBot, TradingView
from credential_svc.vault.store import CredentialRecord
from mesh.timestamps import ts

USER_STATES = {"ACTIVE": pb.USER_STATE_ACTIVE, "ERASED": pb.USER_STATE_ERASED}
CREDENTIAL_STATES = {
    "UNVERIFIED": pb.CREDENTIAL_STATE_UNVERIFIED,
    "ACTIVE": pb.CREDENTIAL_STATE_ACTIVE,
    "REFUSED": pb.CREDENTIAL_STATE_REFUSED,
    "DELETED": pb.CREDENTIAL_STATE_DELETED,
}
SUBSCRIPTION_STATES = {
    "ACTIVE": pb.SUBSCRIPTION_STATE_ACTIVE,
    "PAUSED": pb.SUBSCRIPTION_STATE_PAUSED,
    "CANCELED": pb.SUBSCRIPTION_STATE_CANCELED,
    "EXPIRED": pb.SUBSCRIPTION_STATE_EXPIRED,
    "SUSPENDED": pb.SUBSCRIPTION_STATE_SUSPENDED,
}
SUBSCRIPTION_STATE_REASONS = {
    "CANCELED_BY_USER": pb.SUBSCRIPTION_STATE_REASON_CANCELED_BY_USER,
    "USER_ERASED": pb.SUBSCRIPTION_STATE_REASON_USER_ERASED,
    "CREDENTIAL_DELETED": pb.SUBSCRIPTION_STATE_REASON_CREDENTIAL_DELETED,
    "CREDENTIAL_REFUSED": pb.SUBSCRIPTION_STATE_REASON_CREDENTIAL_REFUSED,
    "RISK_MAX_DRAWDOWN": pb.SUBSCRIPTION_STATE_REASON_RISK_MAX_DRAWDOWN,
    "RISK_ORDER_FAILURES": pb.SUBSCRIPTION_STATE_REASON_RISK_ORDER_FAILURES,
}
# A proto reason back to the stored one ("" for UNSPECIFIED or a number no name has).
STATE_REASON_NAMES = {number: name for name, number in SUBSCRIPTION_STATE_REASONS.items()}


def user_to_pb(user: UserRecord) -> pb.User:
    return pb.User(
        user_id=user.user_id,
        principal=user.principal or "",
        display_name=user.display_name,
        email=user.email,
        state=USER_STATES.get(user.state, pb.USER_STATE_UNSPECIFIED),
        create_time=ts(user.create_time),
        update_time=ts(user.update_time),
    )


def credential_to_pb(record: CredentialRecord) -> pb.ExchangeCredential:
    return pb.ExchangeCredential(
        credential_id=record.credential_id,
        exchange=record.exchange,
        label=record.label,
        key_hint=record.key_hint,
        fingerprint=record.fingerprint,
        state=CREDENTIAL_STATES.get(record.state, pb.CREDENTIAL_STATE_UNSPECIFIED),
        permissions=pb.CredentialPermissions(
            verified=record.verified,
            can_trade=record.can_trade,
            can_withdraw=record.can_withdraw,
            verify_time=ts(record.verify_time),
        ),
        create_time=ts(record.create_time),
        update_time=ts(record.update_time),
    )


def trading_subscription_to_pb(view: TradingView) -> internal_pb.TradingSubscription:
    return internal_pb.TradingSubscription(
        subscription_id=view.subscription_id,
        user_id=view.user_id,
        credential_id=view.credential_id,
        exchange=view.exchange,
        market=view.market,
        allocation=format(view.allocation.normalize(), "f"),
        state=SUBSCRIPTION_STATES.get(view.state, pb.SUBSCRIPTION_STATE_UNSPECIFIED),
        state_reason=SUBSCRIPTION_STATE_REASONS.get(
            view.state_reason, pb.SUBSCRIPTION_STATE_REASON_UNSPECIFIED
        ),
        paid_until=ts(view.paid_until),
        credential_state=CREDENTIAL_STATES.get(
            view.credential_state, pb.CREDENTIAL_STATE_UNSPECIFIED
        ),
        update_time=ts(view.update_time),
        may_trade=view.may_trade,
        effective_state=SUBSCRIPTION_STATES.get(
            view.effective_state, pb.SUBSCRIPTION_STATE_UNSPECIFIED
        ),
        bot=trading_bot_to_pb(view.bot),
        risk=risk_to_pb(view.risk),
    )


def trading_bot_to_pb(bot: TradingBot) -> internal_pb.TradingBot:
    return internal_pb.TradingBot(
        bot_id=bot.bot_id,
        strategy=bot.strategy,
        strategy_params=dict(bot.strategy_params),
        timeframe=bot.timeframe,
        advisor_enabled=bot.advisor_enabled,
        stake=stake_to_pb(bot.stake),
        update_time=ts(bot.update_time),
    )
