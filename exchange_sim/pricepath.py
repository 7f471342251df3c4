"""Seeded, reproducible, random-access synthetic price paths.

A plain random walk would need the whole history to know today's price.  Instead each market's
log-price is built in two layers so that any minute can be computed from a bounded amount of
work and the result never depends on what was asked before:

* day anchors: a mean-reverting AR(1) in log space, one value per UTC midnight, walked outwards
  from the anchor day (so prices stay in a plausible band around ``ref_price`` forever);
* intra-day: a Brownian bridge between consecutive anchors, one value per minute boundary, plus
  per-minute high/low excursions and volumes.

All randomness comes from ``numpy`` generators keyed by (seed, symbol, layer, index).
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

MINUTE_MS = 60_000
DAY_MINUTES = 1440
DAY_MS = DAY_MINUTES * MINUTE_MS
_BLOCK_DAYS = 256
_INDEX_OFFSET = 1 << 40  # SeedSequence entropy must be non-negative
_TAG_DAILY = 1
_TAG_INTRADAY = 2
_TAG_DEPTH = 3
_DAY_CACHE = 64

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class DayPath:
    """Per-minute log-price deviations (from ``ref_price``) and volumes of one UTC day."""

    open: FloatArray  # log price at each minute start, shape (1440,)
    close: FloatArray  # log price at each minute end, shape (1440,)
    high: FloatArray  # log high of each minute
    low: FloatArray  # log low of each minute
    volume: FloatArray  # base volume of each minute


class PricePath:
    """Deterministic log-price path of one market; see the module docstring."""

    def __init__(
        self,
        seed: int,
        symbol: str,
        *,
        vol_per_minute: float,
        volume_per_minute: float,
        anchor_ms: int,
        mean_reversion: float = 0.05,
    ) -> None:
        digest = hashlib.sha256(f"{seed}:{symbol}".encode()).digest()
        self.key = int.from_bytes(digest[:8], "big")
        self.anchor_day = anchor_ms // DAY_MS  # paths start at a UTC midnight
        self._sigma_m = vol_per_minute
        self._sigma_d = vol_per_minute * math.sqrt(DAY_MINUTES)
        self._keep = 1.0 - mean_reversion
        self._volume = volume_per_minute
        self._anchors: dict[int, float] = {0: 0.0}
        self._lo = 0
        self._hi = 0
        self._blocks: dict[int, FloatArray] = {}
        self._days: OrderedDict[int, DayPath] = OrderedDict()

    def rng(self, tag: int, index: int) -> np.random.Generator:
        """Generator for one (layer, index) cell of this path's randomness."""
        return np.random.default_rng([self.key, tag, index + _INDEX_OFFSET])

    def depth_rng(self, index: int) -> np.random.Generator:
        """Generator for order-book sizes at a given sim second (depth is part of the seed too)."""
        return self.rng(_TAG_DEPTH, index)

    def _shock(self, day: int) -> float:
        block, offset = divmod(day, _BLOCK_DAYS)
        values = self._blocks.get(block)
        if values is None:
            values = self.rng(_TAG_DAILY, block).standard_normal(_BLOCK_DAYS)
            self._blocks[block] = values
        return float(values[offset])

    def anchor(self, day: int) -> float:
        """Log deviation at the start of ``day`` (relative to the anchor day)."""
        while self._hi < day:
            prev = self._anchors[self._hi]
            self._anchors[self._hi + 1] = self._keep * prev + self._sigma_d * self._shock(self._hi)
            self._hi += 1
        while self._lo > day:
            prev = self._anchors[self._lo]
            self._anchors[self._lo - 1] = self._keep * prev + self._sigma_d * self._shock(
                self._lo - 1
            )
            self._lo -= 1
        return self._anchors[day]

    def day(self, day: int) -> DayPath:
        """Minute arrays of relative ``day`` (cached, LRU)."""
        cached = self._days.get(day)
        if cached is not None:
            self._days.move_to_end(day)
            return cached
        rng = self.rng(_TAG_INTRADAY, day)
        steps = rng.standard_normal(DAY_MINUTES) * self._sigma_m
        walk = np.concatenate(([0.0], np.cumsum(steps)))
        frac = np.arange(DAY_MINUTES + 1, dtype=np.float64) / DAY_MINUTES
        a0, a1 = self.anchor(day), self.anchor(day + 1)
        points = a0 + (a1 - a0) * frac + (walk - frac * walk[-1])
        opens, closes = points[:-1], points[1:]
        up = np.abs(rng.standard_normal(DAY_MINUTES)) * self._sigma_m * 0.5
        down = np.abs(rng.standard_normal(DAY_MINUTES)) * self._sigma_m * 0.5
        volume = self._volume * rng.lognormal(0.0, 0.5, DAY_MINUTES)
        path = DayPath(
            open=opens,
            close=closes,
            high=np.maximum(opens, closes) + up,
            low=np.minimum(opens, closes) - down,
            volume=volume,
        )
        self._days[day] = path
        if len(self._days) > _DAY_CACHE:
            self._days.popitem(last=False)
        return path

    def locate(self, minute: int) -> tuple[int, int]:
        """(relative day, minute within day) of an absolute minute index."""
        return divmod(minute - self.anchor_day * DAY_MINUTES, DAY_MINUTES)

    def log_at(self, t_ms: float) -> float:
        """Log deviation at any instant: linear in log space between minute boundaries."""
        minute_f = t_ms / MINUTE_MS
        minute = math.floor(minute_f)
        day, idx = self.locate(minute)
        path = self.day(day)
        frac = minute_f - minute
        return float(path.open[idx] + (path.close[idx] - path.open[idx]) * frac)
