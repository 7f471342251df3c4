"""Stream responses serialised once per process and written to every stream as they are.

Rules kept:
- a response every stream of a process sends alike (a ticker, an event read by the hub, a
  heartbeat) is serialised once: the hubs keep its frame (the response message's bytes) and
  share that one bytes object across streams;
- StreamPrices and StreamEvents are registered with `pass_through` as their response
  serializer (server.py), so grpc.aio writes the bytes a servicer yields without serialising
  them again; a message object is still serialised as usual;
- the contract is unchanged: a frame is exactly the serialisation of the method's response
  message (StreamPricesResponse, StreamEventsResponse), and a client parses it as one;
- a heartbeat frame is shared for at most HEARTBEAT_REUSE_S, so its time is that fresh.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from botmesh.trading.v1 import market_data_service_pb2 as md
from botmesh.trading.v1 import resources_pb2 as pb
from botmesh.trading.v1 import trading_service_pb2 as tr
from google.protobuf.message import Message

from mesh.timestamps import ts

Frame = bytes
HEARTBEAT_REUSE_S = 0.25
# The methods whose servicers yield frames.
FRAMED_METHODS = {
    "botmesh.trading.v1.MarketDataService": frozenset({"StreamPrices"}),
    "botmesh.trading.v1.TradingService": frozenset({"StreamEvents"}),
}


def pass_through(response: Frame | Message) -> bytes:
    """The response serializer of framed methods: a frame is already the wire bytes."""
    return response if isinstance(response, bytes) else response.SerializeToString()


def price_frame(ticker: bytes) -> Frame:
    """A StreamPricesResponse carrying a serialised Ticker (parsed, so junk raises)."""
    return md.StreamPricesResponse(ticker=pb.Ticker.FromString(ticker)).SerializeToString()


def event_frame(event: pb.BotEvent) -> Frame:
    return tr.StreamEventsResponse(event=event).SerializeToString()


def heartbeat() -> pb.Heartbeat:
    return pb.Heartbeat(time=ts(datetime.now(UTC)))


class Heartbeats:
    """One response type's heartbeat frame, rebuilt at most every HEARTBEAT_REUSE_S."""

    __slots__ = ("_built", "_frame", "_response")

    def __init__(self, response: type[md.StreamPricesResponse] | type[tr.StreamEventsResponse]):
        self._response = response
        self._frame = b""
        self._built = float("-inf")

    def frame(self) -> Frame:
        now = time.monotonic()
        if now - self._built >= HEARTBEAT_REUSE_S:
            self._frame = self._response(heartbeat=heartbeat()).SerializeToString()
            self._built = now
        return self._frame
