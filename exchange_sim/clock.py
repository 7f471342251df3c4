"""Wall clock vs. simulation clock.

Authentication (timestamp/recvWindow) and order timestamps must use the real wall clock because
clients sign with their own wall clock.  Market data (price path, klines, tickers) runs on a sim
clock that can be sped up for benchmarks: ``sim = origin + speed * (wall - wall_at_origin)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class SimClock:
    """Maps wall time to sim time with a changeable speed factor, continuously."""

    def __init__(
        self,
        speed: float = 1.0,
        start_ms: int | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._wall = wall
        now = wall()
        self._wall_origin = now
        self._sim_origin_ms = float(start_ms) if start_ms is not None else now * 1000.0
        self._speed = speed

    @property
    def speed(self) -> float:
        """Sim milliseconds elapsed per wall millisecond."""
        return self._speed

    def set_speed(self, speed: float) -> None:
        """Change speed without a jump: re-anchor at the current instant."""
        if speed <= 0:
            raise ValueError("speed must be positive")
        now = self._wall()
        self._sim_origin_ms = self._sim_at(now)
        self._wall_origin = now
        self._speed = speed

    def _sim_at(self, wall_s: float) -> float:
        return self._sim_origin_ms + (wall_s - self._wall_origin) * 1000.0 * self._speed

    def wall_ms(self) -> int:
        """Real time in ms: serverTime, order and trade timestamps, auth checks."""
        return int(self._wall() * 1000)

    def sim_ms(self) -> float:
        """Market time in ms (fractional, so sub-ms movement is visible at high speed)."""
        return self._sim_at(self._wall())
