"""The simulator facade: one object owning clock, markets, accounts, engine, limits, faults.

The HTTP, websocket and admin layers are thin adapters over this class, and tests can drive it
directly without a server.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal

from exchange_sim import errors
from exchange_sim.accounts import Account, AccountStore, Permissions
from exchange_sim.clock import SimClock
from exchange_sim.config import SimConfig
from exchange_sim.depth import Book, build_book
from exchange_sim.faults import FaultInjector
from exchange_sim.market import MarketState
from exchange_sim.matching import Fees, MatchingEngine
from exchange_sim.ratelimit import RateLimiter, RateLimitSettings


class Simulator:
    """In-memory Binance spot venue."""

    def __init__(self, config: SimConfig | None = None, wall: Callable[[], float] = time.time):
        self.config = config or SimConfig()
        cfg = self.config
        self.clock = SimClock(cfg.speed, cfg.start_ms, wall)
        self._wall = wall
        self.markets: dict[str, MarketState] = {
            spec.symbol: MarketState(spec, cfg.seed, cfg.anchor_ms) for spec in cfg.markets
        }
        self.accounts = AccountStore()
        self.engine = MatchingEngine(
            self.markets,
            Fees(maker=cfg.maker_fee, taker=cfg.taker_fee),
            self.book,
            self.clock.wall_ms,
        )
        self.limiter = RateLimiter(
            RateLimitSettings(
                limit=cfg.weight_limit,
                window_s=cfg.weight_window_s,
                ban_seconds=cfg.ban_seconds,
                scope=cfg.weight_scope,
            )
        )
        self.faults = FaultInjector()
        self.matcher_paused = False
        self.requests: Counter[str] = Counter()

    # -- clocks ------------------------------------------------------------------------------
    def now_ms(self) -> int:
        """Server (wall) time in ms."""
        return self.clock.wall_ms()

    def sim_ms(self) -> float:
        """Market (sim) time in ms."""
        return self.clock.sim_ms()

    def wall_s(self) -> float:
        """Wall time in seconds, for rate-limit windows."""
        return self._wall()

    # -- markets -----------------------------------------------------------------------------
    def market(self, symbol: str | None) -> MarketState:
        """Market by Binance symbol, or -1121 / -1102."""
        if not symbol:
            raise errors.mandatory("symbol")
        market = self.markets.get(symbol)
        if market is None:
            raise errors.bad_symbol()
        return market

    def book(self, market: MarketState, levels: int | None = None) -> Book:
        """Current synthetic book of ``market``."""
        return build_book(market, self.sim_ms(), levels or self.config.depth_levels)

    def set_price(
        self, symbol: str, price: Decimal, hold: bool = True, drift_per_minute: float = 0.0
    ) -> None:
        """Admin: force a market's price now (held, trending, or continuing randomly)."""
        self.market(symbol).set_price(self.sim_ms(), price, hold, drift_per_minute)

    def release_price(self, symbol: str) -> None:
        """Admin: return a market to its seeded path."""
        self.market(symbol).release(self.sim_ms())

    def match_step(self) -> int:
        """Run one maker-matching step over all resting orders (number of fills)."""
        return self.engine.match(self.accounts.get)

    # -- accounts ----------------------------------------------------------------------------
    def create_account(
        self,
        *,
        balances: dict[str, Decimal] | None = None,
        permissions: Permissions | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        weight_limit: int | None = None,
        fee_asset: str = "quote",
    ) -> Account:
        """New funded account with API credentials."""
        return self.accounts.create(
            self.now_ms(),
            balances=balances,
            permissions=permissions,
            api_key=api_key,
            api_secret=api_secret,
            weight_limit=weight_limit,
            fee_asset=fee_asset,
        )
