"""Domain records to protobuf messages."""

from __future__ import annotations

from collections.abc import Mapping

from botmesh.credential.v1 import resources_pb2 as pb
from botmesh.sizing.v1 import stake_pb2

from credential_svc.catalog.bots import BotRecord
from credential_svc.catalog.stakes import Stake, stake_of
from credential_svc.catalog.store import ListingRecord
from mesh.apikeys import ApiKeyRecord
from mesh.scopes import SCOPE_TO_PB
from mesh.timestamps import ts

RISK_FIELDS = (
    "stop_loss_pct",
    "take_profit_pct",
    "max_drawdown_pct",
    "daily_loss_limit",
    "cooldown_seconds",
    "max_allocation",
)


def risk_to_dict(limits: pb.RiskLimits) -> dict[str, str | int]:
    """Only the limits that are set, so an unset limit means "no limit"."""
    return {name: getattr(limits, name) for name in RISK_FIELDS if getattr(limits, name)}


def risk_to_pb(limits: Mapping[str, str | int]) -> pb.RiskLimits:
    return pb.RiskLimits(**{k: v for k, v in limits.items() if k in RISK_FIELDS})  # type: ignore[arg-type]


def stake_to_dict(stake: stake_pb2.Stake) -> dict[str, str] | None:
    """The chosen mode and its value; None when no mode is chosen (an unset or empty stake)."""
    mode = stake.WhichOneof("mode")
    return stake_of(mode, getattr(stake, mode) if mode else "")


def stake_to_pb(stake: Stake | None) -> stake_pb2.Stake | None:
    return None if stake is None else stake_pb2.Stake(**stake)


def bot_to_pb(bot: BotRecord) -> pb.Bot:
    return pb.Bot(
        bot_id=bot.bot_id,
        name=bot.name,
        description=bot.description,
        strategy=bot.strategy,
        strategy_params=dict(bot.strategy_params),
        markets=list(bot.markets),
        timeframe=bot.timeframe,
        risk_limits=risk_to_pb(bot.risk_limits),
        advisor_enabled=bot.advisor_enabled,
        author_key_id=bot.author_key_id,
        author_principal=bot.author_principal,
        stake=stake_to_pb(bot.stake),
        create_time=ts(bot.create_time),
        update_time=ts(bot.update_time),
    )


def listing_to_pb(listing: ListingRecord) -> pb.Listing:
    return pb.Listing(
        listing_id=listing.listing_id,
        bot_id=listing.bot_id,
        canister_id=listing.canister_id,
        marketplace_listing_id=listing.marketplace_listing_id,
        price_e8s=listing.price_e8s,
        period_days=listing.period_days,
        create_time=ts(listing.create_time),
    )


def api_key_to_pb(record: ApiKeyRecord) -> pb.ApiKey:
    return pb.ApiKey(
        key_id=record.key_id,
        name=record.name,
        scopes=sorted(SCOPE_TO_PB[s] for s in record.scopes if s in SCOPE_TO_PB),
        create_time=ts(record.create_time),
        expire_time=ts(record.expire_time),
        revoke_time=ts(record.revoke_time),
        last_used_time=ts(record.last_used_time),
        rate_limit_per_s=record.rate_limit_per_s or 0,
    )
