"""Tables of analysis_svc: recorded decisions and backtests."""

from __future__ import annotations

import sqlalchemy as sa

from mesh.db import UtcDateTime, metadata

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("decision_id", sa.String(64), primary_key=True),
    # Hash of (exchange, market, timeframe, candle, strategy+params, advisor chain, prompt
    # version).
    sa.Column("cache_key", sa.String(64), nullable=False, unique=True),
    sa.Column("exchange", sa.String(32), nullable=False, server_default="binance"),
    sa.Column("market", sa.String(32), nullable=False),
    sa.Column("timeframe", sa.String(8), nullable=False),
    sa.Column("candle_time", UtcDateTime(), nullable=False),
    sa.Column("strategy", sa.String(64), nullable=False),
    sa.Column("action", sa.String(8), nullable=False),
    sa.Column("confidence", sa.Float(), nullable=False),
    sa.Column("rationale", sa.String(512), nullable=False),
    sa.Column("advisor", sa.String(64), nullable=False),
    sa.Column("detail", sa.JSON(), nullable=False),
    sa.Column("create_time", UtcDateTime(), nullable=False),
    sa.Index(None, "market", "timeframe", "candle_time"),
)

backtests = sa.Table(
    "backtests",
    metadata,
    sa.Column("backtest_id", sa.String(64), primary_key=True),
    sa.Column("api_key_id", sa.String(32), nullable=False, index=True),
    # The principal a marketplace key acted for ("" when the key acted for itself): the
    # backtest belongs to the pair, so principals sharing a key never see each other's.
    sa.Column("principal", sa.String(64), nullable=False, server_default=""),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("progress", sa.Float(), nullable=False),
    sa.Column("request", sa.JSON(), nullable=False),
    sa.Column("result", sa.JSON(), nullable=True),
    sa.Column("error", sa.String(512), nullable=False, server_default=""),
    sa.Column("create_time", UtcDateTime(), nullable=False),
    sa.Column("complete_time", UtcDateTime(), nullable=True),
)
