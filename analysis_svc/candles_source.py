"""Where analysis_svc gets candles: one small interface, so the source can change in one class.

Today candles come from the exchange through ccxt (exchange_sim on the "sim" venue). When
trading_svc's MarketDataService.ListCandles lands, a `ListCandlesSource` implementing the
same `CandleSource` protocol replaces `CcxtCandleSource` in server.py, and nothing else moves.

ccxt's exception messages carry URLs and response bodies, so none is passed on: callers see a
fixed message and a reason.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import ccxt.async_support as ccxt_async

from analysis_svc.domain.candles import Candles
from exchange_sim.ccxt_compat import ccxt_config
from mesh.errors import NotFound, Unavailable
from quant.periods import TIMEFRAME_MS

log = logging.getLogger("botmesh.analysis.candles")

PAGE_LIMIT = 1000  # Binance's (and ListCandles') largest page
TIMEOUT_MS = 10_000

PageProgress = Callable[[float], Awaitable[None]]


class CandleSource(Protocol):
    """Candles of a market as the exchange reports them."""

    async def candles(
        self,
        market: str,
        timeframe: str,
        start_ms: int,
        end_ms: int,
        *,
        on_page: PageProgress | None = None,
    ) -> Candles:
        """Candles opening in [start_ms, end_ms], oldest first. Callers ask only for closed
        candles (end_ms at or before the last closed open time). `on_page(fraction)` reports
        progress of long ranges and may raise to stop the fetch."""
        ...

    async def aclose(self) -> None: ...


def ccxt_symbol(market: str) -> str:
    """ "BTC-USDT" (our paths) -> "BTC/USDT" (ccxt's unified symbol)."""
    return market.replace("-", "/", 1)


class CcxtCandleSource:
    """Public market data through one shared ccxt client per process (no API key needed)."""

    def __init__(self, venue: str, sim_url: str, exchange: str = "binance") -> None:
        config: dict[str, Any] = (
            ccxt_config(sim_url) if venue == "sim" else {"options": {"defaultType": "spot"}}
        )
        config.update(timeout=TIMEOUT_MS)
        self._client = getattr(ccxt_async, exchange)(config)

    async def candles(
        self,
        market: str,
        timeframe: str,
        start_ms: int,
        end_ms: int,
        *,
        on_page: PageProgress | None = None,
    ) -> Candles:
        step = TIMEFRAME_MS[timeframe]
        rows: list[list[float]] = []
        since = start_ms
        total = max(1, (end_ms - start_ms) // step + 1)
        while since <= end_ms:
            limit = int(min(PAGE_LIMIT, (end_ms - since) // step + 1))
            page = await self._page(market, timeframe, since, end_ms, limit)
            rows.extend(r for r in page if start_ms <= r[0] <= end_ms)
            if len(page) < limit or not page:
                break
            since = int(page[-1][0]) + step
            if on_page is not None:
                await on_page(min(1.0, len(rows) / total))
        return _to_candles(rows)

    async def _page(
        self, market: str, timeframe: str, since: int, end_ms: int, limit: int
    ) -> list[list[float]]:
        try:
            page: list[list[float]] = await self._client.fetch_ohlcv(
                ccxt_symbol(market), timeframe, since=since, limit=limit, params={"endTime": end_ms}
            )
            return page
        except ccxt_async.BadSymbol:
            raise NotFound(
                f"market {market} is not listed",
                reason="MARKET_NOT_FOUND",
                metadata={"market": market},
            ) from None
        except ccxt_async.BaseError as exc:
            log.warning(
                "candles unavailable",
                extra={"fields": {"market": market, "error": type(exc).__name__}},
            )
            raise Unavailable(
                "market data could not be fetched; try again", reason="CANDLES_UNAVAILABLE"
            ) from None

    async def aclose(self) -> None:
        await self._client.close()


def _to_candles(rows: list[list[float]]) -> Candles:
    """Deduplicated by open time (pages may overlap at their edges), oldest first."""
    by_time = {int(r[0]): r for r in rows}
    ordered = [by_time[t] for t in sorted(by_time)]
    columns = list(zip(*ordered, strict=True)) if ordered else [()] * 6
    return Candles.from_columns([int(t) for t in columns[0]], *(list(c) for c in columns[1:6]))
