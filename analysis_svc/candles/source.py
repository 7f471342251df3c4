"""Where analysis_svc gets candles: one small interface, so the source can change in one class.

- `ListCandlesSource` (the default for Analyze's recent windows): trading_svc's
  MarketDataService.ListCandles over internal gRPC, called with the internal service
  identity, which stands in for a read key there. Backtests read long ranges from
  trading_svc's candle store instead (store_source.py, the same interface).
- `CcxtCandleSource`: straight from the venue through ccxt, for running analysis_svc without
  trading_svc (BOTMESH_ANALYSIS_CANDLES=venue).

Neither passes a cause on: ccxt's exception messages carry URLs and response bodies, and a
status from trading_svc is ours to interpret, not the caller's. Callers see a fixed message
and a reason: MARKET_NOT_FOUND (NOT_FOUND) or CANDLES_UNAVAILABLE (UNAVAILABLE).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import ccxt.async_support as ccxt_async
import grpc
from botmesh.trading.v1 import market_data_service_pb2 as md_api
from botmesh.trading.v1 import market_data_service_pb2_grpc as md_rpc
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2, status_pb2

from analysis_svc.domain.candles import Candles
from exchanges.clients import ClientFactory, ClientSettings
from exchanges.symbols import to_symbol
from mesh.auth import INTERNAL_HEADER
from mesh.errors import DomainError, FailedPrecondition, NotFound, Unavailable
from mesh.timestamps import ts_ms
from mesh.tls import InternalTls, aio_channel
from quant.periods import TIMEFRAME_MS

log = logging.getLogger("botmesh.analysis.candles")

PAGE_LIMIT = 1000  # Binance's (and ListCandles') largest page
TIMEOUT_MS = 10_000
# trading_svc's reasons for a market the venue does not list (filters_for, ccxt's BadSymbol).
_UNKNOWN_MARKET_REASONS = frozenset({"MARKET_UNKNOWN", "MARKET_NOT_FOUND"})
_STATUS_DETAILS = "grpc-status-details-bin"
# trading_svc's refusals of an exchange (exchanges/capabilities.py, exchanges/sim.py).
_EXCHANGE_REFUSALS = frozenset(
    {"EXCHANGE_UNSUPPORTED", "EXCHANGE_LACKS_CAPABILITY", "EXCHANGE_NOT_ON_VENUE"}
)

PageProgress = Callable[[float], Awaitable[None]]


class CandleSource(Protocol):
    """Candles of a market on an exchange, as the exchange reports them."""

    async def candles(
        self,
        exchange: str,
        market: str,
        timeframe: str,
        start_ms: int,
        end_ms: int,
        *,
        on_page: PageProgress | None = None,
    ) -> Candles:
        """Candles opening in [start_ms, end_ms], oldest first, as the exchange has them:
        no source judges "closed" by a clock of its own (the venue's may run ahead of ours).
        Callers ask for closed candles, plus at most the one after the last, as proof that
        it closed (candles/closed.py). `on_page(fraction)` reports progress of long ranges
        and may raise to stop the fetch."""
        ...

    async def aclose(self) -> None: ...


def _not_listed(market: str) -> NotFound:
    return NotFound(
        f"market {market} is not listed", reason="MARKET_NOT_FOUND", metadata={"market": market}
    )


def _unavailable() -> Unavailable:
    return Unavailable("market data could not be fetched; try again", reason="CANDLES_UNAVAILABLE")


class CcxtCandleSource:
    """Public market data through one shared ccxt client per exchange per process (no API
    key needed), built on first use; the factory refuses an exchange lacking candles."""

    def __init__(self, venue: str, sim_url: str) -> None:
        self._factory = ClientFactory(venue, sim_url, ClientSettings(timeout_ms=TIMEOUT_MS))
        self._clients: dict[str, Any] = {}

    def _client(self, exchange: str) -> Any:
        client = self._clients.get(exchange)
        if client is None:
            client = self._clients[exchange] = self._factory.rest(exchange)
        return client

    async def candles(
        self,
        exchange: str,
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
            page = await self._page(exchange, market, timeframe, since, end_ms, limit)
            rows.extend(r for r in page if start_ms <= r[0] <= end_ms)
            if len(page) < limit or not page:
                break
            since = int(page[-1][0]) + step
            if on_page is not None:
                await on_page(min(1.0, len(rows) / total))
        return _to_candles(rows)

    async def _page(
        self, exchange: str, market: str, timeframe: str, since: int, end_ms: int, limit: int
    ) -> list[list[float]]:
        try:
            page: list[list[float]] = await self._client(exchange).fetch_ohlcv(
                to_symbol(market), timeframe, since=since, limit=limit, params={"endTime": end_ms}
            )
            return page
        except ccxt_async.BadSymbol:
            raise _not_listed(market) from None
        except ccxt_async.BaseError as exc:
            log.warning(
                "candles unavailable",
                extra={"fields": {"market": market, "error": type(exc).__name__}},
            )
            raise _unavailable() from None

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()


class ListCandlesSource:
    """trading_svc's ListCandles over one long-lived channel, as the internal service identity.

    A range is read in pages of up to 1000 candles (ListCandles' largest) following
    next_page_token, so a 100,000-candle backtest costs a hundred calls. Every candle the
    exchange has in the range is kept, whatever ListCandles' `closed` says: that flag is
    trading_svc's wall clock, and a venue on a fast clock (exchange_sim --speed) has closed
    candles that are still in our future (see CandleSource.candles).
    """

    def __init__(
        self,
        target: str,
        internal_token: str,
        *,
        page_size: int = PAGE_LIMIT,
        timeout_s: float = TIMEOUT_MS / 1000,
        options: Sequence[tuple[str, str | int]] = (),
        tls: InternalTls | None = None,
    ) -> None:
        self._channel = aio_channel(target, options, tls)
        self._stub = md_rpc.MarketDataServiceStub(self._channel)
        self._metadata = ((INTERNAL_HEADER, internal_token),)
        self._page_size = max(1, min(PAGE_LIMIT, page_size))
        self._timeout_s = timeout_s

    async def candles(
        self,
        exchange: str,
        market: str,
        timeframe: str,
        start_ms: int,
        end_ms: int,
        *,
        on_page: PageProgress | None = None,
    ) -> Candles:
        step = TIMEFRAME_MS[timeframe]
        total = max(1, (end_ms - start_ms) // step + 1)
        request = md_api.ListCandlesRequest(
            exchange=exchange,
            market=market,
            timeframe=timeframe,
            start_time=ts_ms(start_ms),
            end_time=ts_ms(end_ms + 1),  # ListCandles' end is exclusive, ours inclusive
            page_size=min(self._page_size, total),
        )
        times: list[int] = []
        opens: list[str] = []
        highs: list[str] = []
        lows: list[str] = []
        closes: list[str] = []
        volumes: list[str] = []
        last = start_ms - 1
        seen = 0
        while True:
            reply = await self._page(request)
            for candle in reply.candles:
                t = _millis(candle.open_time)
                # Oldest first, so anything not after the previous one is an overlap.
                if t <= last or t > end_ms:
                    continue
                last = t
                times.append(t)
                opens.append(candle.open)
                highs.append(candle.high)
                lows.append(candle.low)
                closes.append(candle.close)
                volumes.append(candle.volume)
            seen += len(reply.candles)
            token = reply.next_page_token
            if not token or not reply.candles or token == request.page_token:
                break
            request.page_token = token
            if on_page is not None:
                await on_page(min(1.0, seen / total))
        return Candles.from_columns(times, opens, highs, lows, closes, volumes)

    async def _page(self, request: md_api.ListCandlesRequest) -> md_api.ListCandlesResponse:
        try:
            reply: md_api.ListCandlesResponse = await self._stub.ListCandles(
                request, metadata=self._metadata, timeout=self._timeout_s
            )
            return reply
        except grpc.aio.AioRpcError as exc:
            raise mapped_status(request.exchange, request.market, exc) from None

    async def aclose(self) -> None:
        await self._channel.close()


def _millis(stamp: Timestamp) -> int:
    return int(stamp.seconds) * 1000 + (int(stamp.nanos) + 500_000) // 1_000_000


def _error_info(exc: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo | None:
    """The google.rpc.ErrorInfo every mesh service puts in its error statuses."""
    for key, value in exc.trailing_metadata() or ():
        if key != _STATUS_DETAILS or not isinstance(value, bytes):
            continue
        try:
            status = status_pb2.Status.FromString(value)
        except Exception:
            return None
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info):
                return info
    return None


def mapped_status(exchange: str, market: str, exc: grpc.aio.AioRpcError) -> DomainError:
    """ListCandles' status as the errors CcxtCandleSource raises; nothing of it passes on
    but an exchange refusal's reason and our own metadata (what it lacks, which venue)."""
    code = exc.code()
    info = _error_info(exc)
    reason = info.reason if info is not None else ""
    if code == grpc.StatusCode.FAILED_PRECONDITION and reason in _EXCHANGE_REFUSALS:
        assert info is not None
        kept = {k: info.metadata[k] for k in ("missing", "venue") if k in info.metadata}
        return FailedPrecondition(
            f"exchange {exchange} cannot serve candles here",
            reason=reason,
            metadata={"exchange": exchange, **kept},
        )
    bad_market = (
        code == grpc.StatusCode.INVALID_ARGUMENT
        and info is not None
        and info.metadata.get("field") == "market"
    )
    if reason in _UNKNOWN_MARKET_REASONS or bad_market:
        return _not_listed(market)
    # Refused identity (UNAUTHENTICATED, PERMISSION_DENIED) is a misconfigured internal token:
    # the caller can only retry, the operator has to look.
    refused = code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)
    (log.error if refused else log.warning)(
        "candles unavailable",
        extra={"fields": {"market": market, "code": code.name, "reason": reason}},
    )
    return _unavailable()


def _to_candles(rows: list[list[float]]) -> Candles:
    """Deduplicated by open time (pages may overlap at their edges), oldest first."""
    by_time = {int(r[0]): r for r in rows}
    ordered = [by_time[t] for t in sorted(by_time)]
    columns = list(zip(*ordered, strict=True)) if ordered else [()] * 6
    return Candles.from_columns([int(t) for t in columns[0]], *(list(c) for c in columns[1:6]))
