"""Stream responses as frames: the bytes each stream is sent are exactly the response
message's serialisation, written as they are; heartbeats are shared for a short while."""

from __future__ import annotations

import pytest
from botmesh.trading.v1 import market_data_service_pb2 as md
from botmesh.trading.v1 import resources_pb2 as pb
from botmesh.trading.v1 import trading_service_pb2 as tr
from google.protobuf.message import DecodeError

from trading_svc.servicers import frames
from trading_svc.servicers.frames import (
    HEARTBEAT_REUSE_S,
    Heartbeats,
    event_frame,
    pass_through,
    price_frame,
)


def test_a_price_frame_is_the_stream_prices_response_of_the_ticker() -> None:
    ticker = pb.Ticker(market="BTC-USDT", last="61576.59", exchange="binance")
    frame = price_frame(ticker.SerializeToString())
    assert md.StreamPricesResponse.FromString(frame).ticker == ticker
    assert frame == md.StreamPricesResponse(ticker=ticker).SerializeToString()


def test_a_price_frame_refuses_bytes_that_are_no_ticker() -> None:
    with pytest.raises(DecodeError):
        price_frame(b"\xff\xff junk")


def test_an_event_frame_is_the_stream_events_response_of_the_event() -> None:
    event = pb.BotEvent(event_id="1-0", decision=pb.Decision(action="buy"))
    assert tr.StreamEventsResponse.FromString(event_frame(event)).event == event


def test_pass_through_writes_frames_as_they_are_and_serialises_messages() -> None:
    frame = b"\x0a\x00"
    assert pass_through(frame) is frame
    message = md.StreamPricesResponse(heartbeat=pb.Heartbeat())
    assert pass_through(message) == message.SerializeToString()


def test_a_heartbeat_frame_is_shared_then_rebuilt(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(frames.time, "monotonic", lambda: now[0])
    prices = Heartbeats(md.StreamPricesResponse)
    first = prices.frame()
    assert md.StreamPricesResponse.FromString(first).HasField("heartbeat")
    now[0] += HEARTBEAT_REUSE_S / 2
    assert prices.frame() is first  # one serialisation for every stream meanwhile
    now[0] += HEARTBEAT_REUSE_S
    assert prices.frame() is not first
    events = Heartbeats(tr.StreamEventsResponse).frame()
    assert tr.StreamEventsResponse.FromString(events).HasField("heartbeat")
