"""The bot catalog's rules: what a bot is, which fields an update may touch, and what an
update may not leave empty. Field formats are checked earlier, by the proto rules; the
stake's rules that need the whole bot are in stakes.py, kept on every change of the stake
or of the limits it is checked against."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from credential_svc.catalog.stakes import Stake, check_stake
from mesh.errors import InvalidArgument


@dataclass(frozen=True)
class BotRecord:
    bot_id: str
    name: str
    description: str
    strategy: str
    strategy_params: Mapping[str, str]
    markets: tuple[str, ...]
    timeframe: str
    risk_limits: Mapping[str, str | int]
    advisor_enabled: bool
    author_key_id: str
    create_time: datetime
    update_time: datetime
    # The principal that published it through a marketplace key; "" when the key is the
    # author (see authors.py).
    author_principal: str = ""
    # What each entry commits (stakes.py); None means the subscription's whole allocation.
    stake: Stake | None = None


@dataclass(frozen=True)
class BotChanges:
    """New values for the fields named in an update mask; others are ignored."""

    paths: frozenset[str]
    values: dict[str, object] = field(default_factory=dict)


UPDATABLE = frozenset(
    {
        "name",
        "description",
        "strategy",
        "strategy_params",
        "markets",
        "timeframe",
        "risk_limits",
        "advisor_enabled",
        "stake",
    }
)
# A published bot may not lose these.
REQUIRED = frozenset({"name", "strategy", "markets", "timeframe"})


def check_mask(paths: Iterable[str]) -> frozenset[str]:
    mask = frozenset(paths)
    if not mask:
        raise InvalidArgument.for_field("update_mask", "names no field", reason="EMPTY_UPDATE_MASK")
    unknown = sorted(mask - UPDATABLE)
    if unknown:
        raise InvalidArgument.for_field(
            "update_mask",
            f"cannot update {', '.join(unknown)}; updatable: {', '.join(sorted(UPDATABLE))}",
            reason="UNKNOWN_UPDATE_PATH",
        )
    return mask


def apply_changes(bot: BotRecord, changes: BotChanges, now: datetime) -> BotRecord:
    values = {path: changes.values[path] for path in changes.paths}
    for path in REQUIRED & changes.paths:
        if not values[path]:
            raise InvalidArgument.for_field(f"bot.{path}", "is required", reason="INVALID_FIELD")
    if "markets" in values:
        values["markets"] = tuple(values["markets"])  # type: ignore[arg-type]
    updated = replace(bot, **values, update_time=now)  # type: ignore[arg-type]
    if {"stake", "risk_limits"} & changes.paths:
        check_stake(updated.stake, updated.risk_limits, prefix="bot.")
    return updated
