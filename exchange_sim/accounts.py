"""Accounts, balances and API keys.

One account per API key (the simulator is a stand-in, not a user system).  Balances keep
Binance's free/locked split: open orders lock funds so that ``account`` shows what a client
would see on the real exchange.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from decimal import Decimal

from exchange_sim import errors

FEE_ASSETS = ("quote", "received")


@dataclass
class Permissions:
    """What an API key may do; reported by /sapi/v1/account/apiRestrictions."""

    can_read: bool = True
    can_trade: bool = True
    can_withdraw: bool = False
    ip_whitelist: tuple[str, ...] = ()

    @property
    def ip_restrict(self) -> bool:
        """True when the key only works from whitelisted IPs."""
        return bool(self.ip_whitelist)


@dataclass
class Balance:
    """Free and locked amount of one asset."""

    free: Decimal = Decimal(0)
    locked: Decimal = Decimal(0)


@dataclass
class Account:
    """A trading account, addressed by its API key."""

    uid: int
    api_key: str
    api_secret: str
    permissions: Permissions
    create_time_ms: int
    weight_limit: int | None = None
    balances: dict[str, Balance] = field(default_factory=dict)
    # Where commissions are charged: "quote" (every fee in the quote asset) or "received"
    # (Binance's rule without BNB: in the asset the fill pays out, so a buy's in the base).
    fee_asset: str = "quote"

    def balance(self, asset: str) -> Balance:
        """Balance row of ``asset`` (created empty on first use)."""
        return self.balances.setdefault(asset, Balance())

    def free(self, asset: str) -> Decimal:
        """Spendable amount of ``asset``."""
        row = self.balances.get(asset)
        return row.free if row else Decimal(0)

    def lock(self, asset: str, amount: Decimal) -> None:
        """Move ``amount`` from free to locked, or reject with -2010."""
        row = self.balance(asset)
        if amount > row.free:
            raise errors.insufficient_balance()
        row.free -= amount
        row.locked += amount

    def unlock(self, asset: str, amount: Decimal) -> None:
        """Return locked funds (cancel, or the unused part of a buy lock)."""
        row = self.balance(asset)
        row.locked -= amount
        row.free += amount

    def spend_locked(self, asset: str, amount: Decimal) -> None:
        """Pay out of funds locked by an open order (a fill of that order)."""
        self.balance(asset).locked -= amount

    def credit(self, asset: str, amount: Decimal) -> None:
        """Receive funds."""
        self.balance(asset).free += amount


class AccountStore:
    """All accounts, indexed by API key."""

    def __init__(self) -> None:
        self._by_key: dict[str, Account] = {}
        self._next_uid = 100_000_001

    def create(
        self,
        now_ms: int,
        *,
        balances: dict[str, Decimal] | None = None,
        permissions: Permissions | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        weight_limit: int | None = None,
        fee_asset: str = "quote",
    ) -> Account:
        """New account with fresh (or caller-chosen) credentials."""
        if fee_asset not in FEE_ASSETS:
            raise ValueError(f"fee_asset must be one of {FEE_ASSETS}")
        key = api_key or secrets.token_hex(32)
        if key in self._by_key:
            raise ValueError(f"api key {key[:8]}... already exists")
        account = Account(
            uid=self._next_uid,
            api_key=key,
            api_secret=api_secret or secrets.token_hex(32),
            permissions=permissions or Permissions(),
            create_time_ms=now_ms,
            weight_limit=weight_limit,
            fee_asset=fee_asset,
        )
        self._next_uid += 1
        for asset, amount in (balances or {}).items():
            account.balance(asset).free = amount
        self._by_key[key] = account
        return account

    def get(self, api_key: str) -> Account | None:
        """Account of ``api_key`` or None."""
        return self._by_key.get(api_key)

    def all(self) -> list[Account]:
        """Every account, in creation order."""
        return list(self._by_key.values())
