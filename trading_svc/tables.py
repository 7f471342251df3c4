"""Tables of trading_svc: orders, fills, the performance log and its projection of
subscriptions (orders/projection.py). None refers to another service's tables."""

from __future__ import annotations

import sqlalchemy as sa

from mesh.db import Money, UtcDateTime, metadata, serial_id

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("order_id", sa.String(64), primary_key=True),
    # the credential service's subscription: an id only, no foreign key into that service's tables.
    sa.Column("subscription_id", sa.String(64), nullable=False),
    # The exchange account (credential) the order lives on.
    sa.Column("credential_id", sa.String(64), nullable=False),
    sa.Column("exchange", sa.String(32), nullable=False),
    # Deterministic, derived from order_id; unique per exchange account.
    sa.Column("client_order_id", sa.String(36), nullable=False),
    sa.Column("exchange_order_id", sa.String(64), nullable=True),
    sa.Column("market", sa.String(32), nullable=False),
    sa.Column("side", sa.String(4), nullable=False),
    sa.Column("type", sa.String(8), nullable=False),
    sa.Column("quantity", Money(), nullable=False),
    sa.Column("price", Money(), nullable=True),
    sa.Column("filled_quantity", Money(), nullable=False),
    sa.Column("average_price", Money(), nullable=True),
    sa.Column("fee", Money(), nullable=False),
    sa.Column("state", sa.String(20), nullable=False, index=True),
    sa.Column("source", sa.String(8), nullable=False),
    # The (subscription, candle) tick that placed it, so a replayed tick places nothing new.
    sa.Column("tick_key", sa.String(96), nullable=True, unique=True),
    sa.Column("reject_reason", sa.String(255), nullable=False, server_default=""),
    sa.Column("create_time", UtcDateTime(), nullable=False),
    sa.Column("update_time", UtcDateTime(), nullable=False),
    # sha256 of (API key, acting principal, Idempotency-Key, subscription): a retried
    # request finds its order here instead of placing another.
    sa.Column("intent_key", sa.String(64), nullable=True),
    # When the request was signed (see orders/model.py); "proven lost" counts from it.
    sa.Column("signed_time", UtcDateTime(), nullable=True),
    sa.UniqueConstraint("credential_id", "client_order_id"),
    sa.UniqueConstraint("subscription_id", "intent_key"),
    sa.Index(None, "subscription_id", "create_time"),
)

trades = sa.Table(
    "trades",
    metadata,
    sa.Column("trade_id", sa.String(64), primary_key=True),
    sa.Column(
        "order_id", sa.String(64), sa.ForeignKey("orders.order_id"), nullable=False, index=True
    ),
    sa.Column("subscription_id", sa.String(64), nullable=False),
    sa.Column("exchange", sa.String(32), nullable=False),
    sa.Column("market", sa.String(32), nullable=False),
    sa.Column("exchange_trade_id", sa.String(64), nullable=False),
    sa.Column("side", sa.String(4), nullable=False),
    sa.Column("price", Money(), nullable=False),
    sa.Column("quantity", Money(), nullable=False),
    sa.Column("fee", Money(), nullable=False),
    sa.Column("fee_asset", sa.String(16), nullable=False),
    sa.Column("time", UtcDateTime(), nullable=False),
    # A fill is counted once, however often the exchange reports it. Keyed by our order (and so
    # by exchange account), not by trade id alone: when two of our accounts trade with each
    # other, both sides carry the exchange's one trade id.
    sa.UniqueConstraint("order_id", "exchange_trade_id"),
    sa.Index(None, "exchange", "market", "exchange_trade_id"),
    sa.Index(None, "subscription_id", "time"),
)

performance_logs = sa.Table(
    "performance_logs",
    metadata,
    serial_id(),
    # the credential service's subscription: an id only, no foreign key into that service's tables.
    sa.Column("subscription_id", sa.String(64), nullable=False),
    sa.Column("time", UtcDateTime(), nullable=False),
    sa.Column("equity", Money(), nullable=False),
    sa.Column("realized_pnl", Money(), nullable=False),
    sa.Column("unrealized_pnl", Money(), nullable=False),
    sa.Column("position", Money(), nullable=False),
    # Fees paid so far and the position's quote value at the snapshot's price.
    sa.Column("fees", Money(), nullable=False, server_default="0"),
    sa.Column("exposure", Money(), nullable=False, server_default="0"),
    sa.Index(None, "subscription_id", "time"),
)

# Subscriptions as trading_svc last heard of them (stream entries and the credential service's answers),
# newest `version` (the credential service's update_time) winning. Never the verdict: see
# orders/projection.py.
subscription_projection = sa.Table(
    "subscription_projection",
    metadata,
    sa.Column("subscription_id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("credential_id", sa.String(64), nullable=False),
    sa.Column("market", sa.String(32), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("paid_until", UtcDateTime(), nullable=True),
    sa.Column("version", UtcDateTime(), nullable=False),
    # What the bot runtime schedules by, learned from credential_svc's answers (NULL until
    # first learned; the scheduler then asks).
    sa.Column("exchange", sa.String(32), nullable=True),
    sa.Column("timeframe", sa.String(8), nullable=True),
)

# One row per (subscription, candle): the tick's claim, then its decision. The unique key is
# what makes a tick exactly-once across replicas and redeliveries (runtime/decisions.py).
bot_decisions = sa.Table(
    "bot_decisions",
    metadata,
    serial_id(),
    sa.Column("subscription_id", sa.String(64), nullable=False),
    # Open time of the closed candle decided on.
    sa.Column("candle_time", UtcDateTime(), nullable=False),
    # "claimed" while a consumer works on it, then "done".
    sa.Column("state", sa.String(8), nullable=False),
    sa.Column("claimed_by", sa.String(64), nullable=False),
    sa.Column("claim_time", UtcDateTime(), nullable=False),
    sa.Column("complete_time", UtcDateTime(), nullable=True),
    sa.Column("action", sa.String(8), nullable=False, server_default=""),
    sa.Column("confidence", sa.Float(), nullable=False, server_default="0"),
    sa.Column("rationale", sa.String(512), nullable=False, server_default=""),
    sa.Column("advisor", sa.String(64), nullable=False, server_default=""),
    sa.Column("outcome", sa.String(16), nullable=False, server_default=""),
    sa.Column("reason", sa.String(64), nullable=False, server_default=""),
    sa.Column("order_id", sa.String(64), nullable=True),
    sa.Column("side", sa.String(4), nullable=False, server_default=""),
    sa.Column("quantity", Money(), nullable=True),
    sa.Column("price", Money(), nullable=True),
    sa.Column("risk_rule", sa.String(32), nullable=False, server_default=""),
    sa.Column("risk_outcome", sa.String(16), nullable=False, server_default=""),
    sa.Column("risk_message", sa.String(255), nullable=False, server_default=""),
    sa.UniqueConstraint("subscription_id", "candle_time"),
)

# The bot runtime's memory of each subscription between ticks: why it is halted, its equity
# peak (the drawdown kill switch), its failure streak and exchange backoff.
bot_runtime = sa.Table(
    "bot_runtime",
    metadata,
    sa.Column("subscription_id", sa.String(64), primary_key=True),
    sa.Column("halted_reason", sa.String(32), nullable=False, server_default=""),
    sa.Column("halted_message", sa.String(255), nullable=False, server_default=""),
    sa.Column("halted_until", UtcDateTime(), nullable=True),
    sa.Column("peak_equity", Money(), nullable=True),
    sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("backoff_until", UtcDateTime(), nullable=True),
    sa.Column("last_tick_time", UtcDateTime(), nullable=True),
    sa.Column("next_tick_time", UtcDateTime(), nullable=True),
    sa.Column("last_snapshot_time", UtcDateTime(), nullable=True),
    sa.Column("update_time", UtcDateTime(), nullable=False),
)

# How far this service has read a Redis Stream it follows (the subscription changes), so a
# restart resumes there instead of at "$" and misses nothing the stream still holds.
stream_cursors = sa.Table(
    "stream_cursors",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("last_id", sa.String(48), nullable=False),
    sa.Column("update_time", UtcDateTime(), nullable=False),
)

# The candle store (marketdata/chunks.py, candle_store.py): one row per chunk of a series'
# closed candles, packed columns; the primary key serves range scans of a series.
candle_chunks = sa.Table(
    "candle_chunks",
    metadata,
    sa.Column("exchange", sa.String(32), primary_key=True),
    sa.Column("market", sa.String(32), primary_key=True),
    sa.Column("timeframe", sa.String(8), primary_key=True),
    # Open time (ms) of the chunk's first period: a multiple of its span.
    sa.Column("chunk_start", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("count", sa.Integer(), nullable=False),
    # count little-endian int64 open times (ms), then float64 columns of count values each.
    sa.Column("open_time", sa.LargeBinary(), nullable=False),
    sa.Column("open", sa.LargeBinary(), nullable=False),
    sa.Column("high", sa.LargeBinary(), nullable=False),
    sa.Column("low", sa.LargeBinary(), nullable=False),
    sa.Column("close", sa.LargeBinary(), nullable=False),
    sa.Column("volume", sa.LargeBinary(), nullable=False),
    # Intervals [start, end) (little-endian int64 pairs) in which every venue candle is held.
    sa.Column("covered", sa.LargeBinary(), nullable=False),
    sa.Column("update_time", UtcDateTime(), nullable=False),
)
