"""Tables of credential_svc: users, the credential vault, the bot catalog and listings,
subscriptions and payments."""

from __future__ import annotations

import sqlalchemy as sa

from mesh.db import FixedBytes, Money, UtcDateTime, metadata

users = sa.Table(
    "users",
    metadata,
    sa.Column("user_id", sa.String(64), primary_key=True),
    # Null once erased, so the principal can register anew.
    sa.Column("principal", sa.String(64), nullable=True, unique=True),
    sa.Column("display_name", sa.String(128), nullable=False, server_default=""),
    sa.Column("email", sa.String(254), nullable=False, server_default=""),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("create_time", UtcDateTime(), nullable=False),
    sa.Column("update_time", UtcDateTime(), nullable=False),
)

exchange_credentials = sa.Table(
    "exchange_credentials",
    metadata,
    sa.Column("credential_id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(64), sa.ForeignKey("users.user_id"), nullable=False, index=True),
    sa.Column("exchange", sa.String(32), nullable=False),
    sa.Column("label", sa.String(64), nullable=False, server_default=""),
    sa.Column("key_hint", sa.String(16), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    # AES-256-GCM of the secret bundle under the credential's own data key.
    sa.Column("nonce", FixedBytes(12), nullable=True),
    sa.Column("ciphertext", sa.LargeBinary(), nullable=True),
    # The data key wrapped by keyring version `key_version`; null once shredded.
    sa.Column("wrapped_data_key", sa.LargeBinary(), nullable=True),
    sa.Column("key_version", sa.Integer(), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("verified", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("can_trade", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("can_withdraw", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("verify_time", UtcDateTime(), nullable=True),
    sa.Column("create_time", UtcDateTime(), nullable=False),
    sa.Column("update_time", UtcDateTime(), nullable=False),
    sa.Index(None, "key_version"),
)

bots = sa.Table(
    "bots",
    metadata,
    sa.Column("bot_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("strategy", sa.String(64), nullable=False),
    sa.Column("strategy_params", sa.JSON(), nullable=False),
    sa.Column("markets", sa.JSON(), nullable=False),
    sa.Column("timeframe", sa.String(8), nullable=False),
    sa.Column("risk_limits", sa.JSON(), nullable=False),
    sa.Column("advisor_enabled", sa.Boolean(), nullable=False),
    # The stake per entry ({"fixed_quote": "100"} or {"allocation_fraction": "0.5"}); NULL
    # means the whole allocation.
    sa.Column("stake", sa.JSON(), nullable=True),
    sa.Column("author_key_id", sa.String(32), nullable=False),
    # The principal that published it through a marketplace key; "" when the key is the author.
    sa.Column("author_principal", sa.String(64), nullable=False, server_default=""),
    sa.Column("create_time", UtcDateTime(), nullable=False),
    sa.Column("update_time", UtcDateTime(), nullable=False),
    # Keyset pagination walks (create_time, bot_id) newest first.
    sa.Index(None, "create_time", "bot_id"),
)

bot_listings = sa.Table(
    "bot_listings",
    metadata,
    sa.Column("listing_id", sa.String(64), primary_key=True),
    sa.Column("bot_id", sa.String(64), sa.ForeignKey("bots.bot_id"), nullable=False, index=True),
    sa.Column("canister_id", sa.String(63), nullable=False),
    sa.Column("marketplace_listing_id", sa.String(128), nullable=False),
    sa.Column("price_e8s", sa.BigInteger(), nullable=False),
    sa.Column("period_days", sa.Integer(), nullable=False),
    sa.Column("create_time", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("canister_id", "marketplace_listing_id"),
)

subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("subscription_id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(64), sa.ForeignKey("users.user_id"), nullable=False, index=True),
    sa.Column("bot_id", sa.String(64), sa.ForeignKey("bots.bot_id"), nullable=False, index=True),
    sa.Column(
        "credential_id",
        sa.String(64),
        sa.ForeignKey("exchange_credentials.credential_id"),
        nullable=False,
        index=True,
    ),
    sa.Column("market", sa.String(32), nullable=False),
    sa.Column("allocation", Money(), nullable=False),
    sa.Column("risk_overrides", sa.JSON(), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    # Why it is SUSPENDED or CANCELED (credential_svc/subscriptions/suspension.py).
    sa.Column("state_reason", sa.String(32), nullable=False, server_default=""),
    # The state a CREDENTIAL_REFUSED suspension returns to when a verify accepts the key.
    sa.Column("suspended_from", sa.String(16), nullable=False, server_default=""),
    sa.Column("paid_until", UtcDateTime(), nullable=True),
    sa.Column("create_time", UtcDateTime(), nullable=False),
    sa.Column("update_time", UtcDateTime(), nullable=False),
    # The listing rented and its price as agreed at subscribe time (price_e8s per
    # period_days). Null only on rows older than priced subscriptions: those take no payment.
    sa.Column(
        "listing_id",
        sa.String(64),
        sa.ForeignKey("bot_listings.listing_id"),
        nullable=True,
        index=True,
    ),
    sa.Column("price_e8s", sa.BigInteger(), nullable=True),
    sa.Column("period_days", sa.Integer(), nullable=True),
)

payments = sa.Table(
    "payments",
    metadata,
    sa.Column("payment_id", sa.String(64), primary_key=True),
    sa.Column(
        "subscription_id",
        sa.String(64),
        sa.ForeignKey("subscriptions.subscription_id"),
        nullable=False,
        index=True,
    ),
    sa.Column("ledger", sa.String(63), nullable=False),
    sa.Column("block_index", sa.BigInteger(), nullable=False),
    sa.Column("amount_e8s", sa.BigInteger(), nullable=False),
    sa.Column("period_days", sa.Integer(), nullable=False),
    sa.Column("paid_until", UtcDateTime(), nullable=False),
    sa.Column("create_time", UtcDateTime(), nullable=False),
    # The same ledger block credits once, whoever reports it.
    sa.UniqueConstraint("ledger", "block_index"),
)

# The transactional outbox of the subscription-change stream (subscriptions/outbox.py): a row
# commits with the change it announces; the relay publishes it and marks it. Ids are never
# reused (AUTOINCREMENT on SQLite; InnoDB keeps its counter), since the relay's exactly-once
# marker in Redis is keyed by the id.
change_outbox = sa.Table(
    "change_outbox",
    metadata,
    sa.Column(
        "outbox_id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("stream", sa.String(64), nullable=False),
    # The entry's fields as a JSON object of strings.
    sa.Column("payload", sa.Text(), nullable=False),
    sa.Column("create_time", UtcDateTime(), nullable=False),
    # Null until published; published rows are purged after a retention.
    sa.Column("publish_time", UtcDateTime(), nullable=True),
    sa.Index(None, "publish_time"),
    sqlite_autoincrement=True,
)
