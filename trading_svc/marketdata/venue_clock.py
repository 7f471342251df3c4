"""The exchange's market clock, as far as this process has seen it.

A candle is closed once its period has ended on the exchange's clock. A real exchange's
clock is ours (within a little skew). exchange_sim's can run faster (`--sim-speed`): it
stamps each answer with its market time (MARKET_TIME_HEADER), and a candle whose end is
past the latest stamp seen is closed, though our own clock has not reached it. The clock
never goes back: stamps only raise it, so an answer that arrives late cannot reopen a
candle, and a stamp is a time the exchange has passed, so no open candle reads closed.
"""

from __future__ import annotations

from typing import Any

# exchange_sim/middleware.py sends it; ccxt keeps a response's headers as sent.
MARKET_TIME_HEADER = "x-sim-market-time-ms"


class VenueClock:
    def __init__(self) -> None:
        self._seen_ms: dict[str, int] = {}

    def now_ms(self, exchange: str, client: Any) -> int:
        """The exchange's time now, at least: our clock, or the latest market time its
        answers (on `client`, just used) carried, whichever is later."""
        stamp = _stamp(getattr(client, "last_response_headers", None))
        seen = max(self._seen_ms.get(exchange, 0), stamp)
        if seen:
            self._seen_ms[exchange] = seen
        return max(int(client.milliseconds()), seen)


def _stamp(headers: Any) -> int:
    if not isinstance(headers, dict):
        return 0
    for name, value in headers.items():
        if str(name).lower() == MARKET_TIME_HEADER:
            try:
                return max(0, int(value))
            except (TypeError, ValueError):
                return 0
    return 0
