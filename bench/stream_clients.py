"""The load side of the stream benchmarks (bench/stream_load.py measures with it): worker
processes that open streams at given moments over gRPC straight to the service (grpc.aio,
STREAMS_PER_CHANNEL streams per HTTP/2 connection) or as Server-Sent Events through Envoy
(one raw asyncio socket per stream, an HTTP/1.1 GET as a browser's EventSource makes, the
chunked body scanned for `data: ` lines without an HTTP library, so one process holds
thousands), and count what each stream receives (Tally): its first message or the failure
before it, its data messages, the lag of sampled ones, messages inside the window.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import signal
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

STREAMS_PER_CHANNEL = 100


@dataclass(frozen=True)
class Load:
    """What the workers open: `count` streams of one method over one transport."""

    transport: str  # "grpc" (straight to the service) or "sse" (through Envoy)
    host: str
    port: int
    grpc_method: str  # "/package.Service/Method"
    grpc_requests: tuple[bytes, ...]  # serialised requests, stream i takes i % len
    sse_paths: tuple[str, ...]  # REST paths with their query, stream i takes i % len
    headers: tuple[tuple[str, str], ...]
    payload: str  # the response field carrying data with a `time`: "ticker" or "event"
    data_tag: int  # first byte of a gRPC response whose payload is set
    response: str  # "market_data_service_pb2.StreamPricesResponse" or similar
    count: int
    ramp_per_s: float
    sample: int


def _response_class(name: str) -> Any:
    import importlib

    module, cls = name.rsplit(".", 1)
    return getattr(importlib.import_module(f"botmesh.trading.v1.{module}"), cls)


def _rfc3339_s(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class Tally:
    """One worker's counts."""

    def __init__(self, window: tuple[float, float]) -> None:
        self.window = window
        self.connected = 0
        self.data = 0
        self.in_window = 0  # messages of any kind received inside the window
        self.lags_us: list[float] = []
        self.first_s: list[float] = []
        self.failures: dict[str, list[float]] = {}

    def message(self) -> None:
        now = time.time()
        if self.window[0] <= now <= self.window[1]:
            self.in_window += 1

    def first(self, asked: float) -> None:
        self.connected += 1
        self.first_s.append(time.time() - asked)

    def lag(self, stamped_s: float) -> None:
        now = time.time()
        if self.window[0] <= now <= self.window[1]:
            self.lags_us.append((now - stamped_s) * 1e6)

    def failed(self, what: str, asked: float) -> None:
        self.failures.setdefault(what, []).append(time.time() - asked)


async def _grpc_stream(
    load: Load, i: int, channel: Any, tally: Tally, parse: Any, until: float
) -> None:
    import grpc

    sampled = i % load.sample == 0
    call = channel.unary_stream(
        load.grpc_method,
        request_serializer=lambda raw: raw,
        response_deserializer=None,
    )(load.grpc_requests[i % len(load.grpc_requests)], metadata=load.headers)
    asked = time.time()
    got = False
    try:
        async for raw in call:
            tally.message()
            if not got:
                got = True
                tally.first(asked)
            if raw[:1] == bytes([load.data_tag]):
                tally.data += 1
                if sampled:
                    payload = getattr(parse(raw), load.payload)
                    tally.lag(payload.time.ToNanoseconds() / 1e9)
            if time.time() > until:
                call.cancel()
                return
    except grpc.aio.AioRpcError as exc:
        if not got:
            tally.failed(f"{exc.code().name}: {(exc.details() or '')[:80]}", asked)
    except asyncio.CancelledError:
        if not got:
            tally.failed("never answered", asked)
        raise


async def _sse_stream(load: Load, i: int, tally: Tally, until: float) -> None:
    sampled = i % load.sample == 0
    path = load.sse_paths[i % len(load.sse_paths)]
    head = "".join(f"{k}: {v}\r\n" for k, v in load.headers)
    request = (
        f"GET {path} HTTP/1.1\r\nhost: {load.host}:{load.port}\r\naccept: text/event-stream\r\n"
        f"{head}\r\n"
    ).encode()
    marker = f'{{"{load.payload}"'.encode()
    asked = time.time()
    got = False
    writer = None
    try:
        reader, writer = await asyncio.open_connection(load.host, load.port)
        writer.write(request)
        header = await reader.readuntil(b"\r\n\r\n")
        status = header.split(b" ", 2)[1].decode()
        if status != "200":
            tally.failed(f"HTTP {status}", asked)
            return
        buf = b""
        while time.time() <= until:
            chunk = await reader.read(65536)
            if not chunk:
                break
            buf += chunk
            while True:
                start = buf.find(b"data: ")
                end = buf.find(b"\n\n", start) if start >= 0 else -1
                if end < 0:
                    break
                message, buf = buf[start + 6 : end], buf[end + 2 :]
                tally.message()
                if not got:
                    got = True
                    tally.first(asked)
                if message.startswith(marker):
                    tally.data += 1
                    if sampled:
                        tally.lag(_rfc3339_s(json.loads(message)[load.payload]["time"]))
        if not got:
            tally.failed("closed before a message", asked)
    except (OSError, asyncio.IncompleteReadError) as exc:
        if not got:
            tally.failed(type(exc).__name__, asked)
    except asyncio.CancelledError:
        if not got:
            tally.failed("never answered", asked)
        raise
    finally:
        if writer is not None:
            writer.close()


def worker(
    load: Load,
    indices: list[int],
    phases: tuple[float, float, float],
    clock: Any,
    out: mp.Queue,  # type: ignore[type-arg]
) -> None:
    """Opens stream i at t0 + i / ramp for each i of `indices`, t0 being what the parent
    puts in `clock` once every worker is ready; holds them until the window's end + 1 s.
    `phases`: (ramp, warmup, duration) seconds."""
    import grpc

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out.put({"ready": True})
    while clock.value == 0:
        time.sleep(0.01)
    t0 = clock.value
    ramp_s, warmup_s, duration_s = phases
    window = (t0 + ramp_s + warmup_s, t0 + ramp_s + warmup_s + duration_s)
    until = window[1] + 1.0

    async def run() -> Tally:
        tally = Tally(window)
        channels: list[Any] = []
        if load.transport == "grpc":
            channels = [
                grpc.aio.insecure_channel(
                    f"{load.host}:{load.port}", options=[("grpc.use_local_subchannel_pool", 1)]
                )
                for _ in range(max(1, -(-len(indices) // STREAMS_PER_CHANNEL)))
            ]
        parse = _response_class(load.response).FromString

        async def one(n: int, i: int) -> None:
            await asyncio.sleep(max(0.0, t0 + i / load.ramp_per_s - time.time()))
            if load.transport == "grpc":
                await _grpc_stream(load, i, channels[n % len(channels)], tally, parse, until)
            else:
                await _sse_stream(load, i, tally, until)

        tasks = [asyncio.create_task(one(n, i)) for n, i in enumerate(indices)]
        await asyncio.wait(tasks, timeout=max(1.0, until - time.time()) + 20)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for channel in channels:
            await channel.close()
        return tally

    tally = asyncio.run(run())
    out.put(
        {
            "connected": tally.connected,
            "data": tally.data,
            "in_window": tally.in_window,
            "lags_us": tally.lags_us,
            "first_s": tally.first_s,
            "failures": tally.failures,
        }
    )
