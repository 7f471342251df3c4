"""Thousands of open streams against ONE trading_svc process, over gRPC straight to it or as
Server-Sent Events through Envoy, and what they cost: the measurements that bench/streams.py
(StreamPrices) and bench/events_streams.py (StreamEvents) share; the load side (workers,
clients, counts per stream) is bench/stream_clients.py.

How a configuration (transport x stream count) is measured, in `measure`:
- the service (and Envoy, for SSE) is restarted first, so its RSS is that of an idle
  process; streams are opened at `ramp` per second in all, by `workers` processes started
  beforehand, each stream at its own moment (t0 + i / ramp); the clock starts once every
  worker has imported what it needs (a cold start under load takes seconds);
- gRPC: grpc.aio channels of STREAMS_PER_CHANNEL streams, each its own HTTP/2 connection
  (a local subchannel pool). SSE: one raw asyncio socket per stream (an HTTP/1.1 GET, as a
  browser's EventSource makes), the chunked body scanned for `data: ` lines without an
  HTTP library, so the load generator can hold ten thousand of them;
- one stream in `sample` parses every message and records its lag (receive time minus the
  payload's own time: the ticker's or the event's); every stream counts its data messages
  (a ticker or an event, told from a heartbeat by the first byte or the JSON key);
- after the ramp and `warmup` seconds, RSS and CPU of the service (and Envoy) are read,
  then `during` runs for `duration` seconds (events: the publisher), then CPU again; lags
  count only messages received in that window;
- a stream that ends before its first message is a failure, recorded with its status and
  the seconds it waited; "connected" is streams that received at least one message.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import signal
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.getbot import cpu_seconds, percentiles_us
from bench.stream_clients import Load, worker

RESULTS = Path(__file__).resolve().parent / "results"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def runnable_waiting_s(pid: int) -> float:
    """Seconds the process's threads have spent runnable but waiting for a CPU."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


def _pct(samples: list[float], scale: float) -> dict[str, float | None]:
    if not samples:
        return {"p50": None, "p99": None, "max": None}
    p50, p99 = percentiles_us(samples)
    return {
        "p50": round(p50 / scale, 1),
        "p99": round(p99 / scale, 1),
        "max": round(max(samples) / scale, 1),
    }


def measure(
    load: Load,
    *,
    workers: int,
    warmup_s: float,
    duration_s: float,
    pids: dict[str, int],
    during: Callable[[float], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One configuration, as the module docstring says. `pids`: the processes whose RSS and
    CPU count ("service", and "envoy" for SSE); `during(seconds)` runs in the window."""
    idle = {name: rss_kib(pid) for name, pid in pids.items()}
    ramp_s = load.count / load.ramp_per_s
    spawn = mp.get_context("spawn")
    out: mp.Queue = spawn.Queue()  # type: ignore[type-arg]
    clock = spawn.Value("d", 0.0)
    phases = (ramp_s, warmup_s, duration_s)
    procs = [
        spawn.Process(
            target=worker,
            args=(load, list(range(w, load.count, workers)), phases, clock, out),
        )
        for w in range(workers)
    ]
    for proc in procs:
        proc.start()
    for _ in procs:
        out.get(timeout=120)  # ready
    t0 = clock.value = time.time() + 0.2
    window = (t0 + ramp_s + warmup_s, t0 + ramp_s + warmup_s + duration_s)
    time.sleep(max(0.0, window[0] - time.time()))
    loaded = {name: rss_kib(pid) for name, pid in pids.items()}
    clients = [p.pid for p in procs if p.pid is not None]
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    waited = {name: runnable_waiting_s(pid) for name, pid in pids.items()}
    client_before = sum(cpu_seconds(pid) for pid in clients)
    started = time.monotonic()
    extra = during(duration_s) if during is not None else {}
    time.sleep(max(0.0, window[1] - time.time()))
    wall = time.monotonic() - started
    spent = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
    cpu = {name: spent[name] / wall for name in pids}
    starved = {n: (runnable_waiting_s(pid) - waited[n]) / wall for n, pid in pids.items()}
    client_cpu = (sum(cpu_seconds(pid) for pid in clients) - client_before) / wall
    load_avg = os.getloadavg()
    results = [out.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    connected = sum(r["connected"] for r in results)
    failures: dict[str, list[float]] = {}
    for r in results:
        for what, waits in r["failures"].items():
            failures.setdefault(what, []).extend(waits)
    lags = [lag for r in results for lag in r["lags_us"]]
    firsts = [f * 1e6 for r in results for f in r["first_s"]]
    return {
        "transport": load.transport,
        "streams": load.count,
        "connected": connected,
        "failed_before_first_message": {
            what: {
                "count": len(waits),
                "waited_s_min": round(min(waits), 1),
                "waited_s_max": round(max(waits), 1),
            }
            for what, waits in failures.items()
        },
        "data_messages": sum(r["data"] for r in results),
        "messages_in_window": sum(r["in_window"] for r in results),
        # CPU per message sent in the window (tickers, events and heartbeats alike).
        "cpu_us_per_message": {
            n: round(spent[n] * 1e6 / max(1, sum(r["in_window"] for r in results)), 1) for n in pids
        },
        "lag_ms": _pct(lags, 1e3),
        "lag_samples": len(lags),
        "first_message_ms": _pct(firsts, 1e3),
        "rss_mib": {n: [round(idle[n] / 1024), round(loaded[n] / 1024)] for n in pids},
        "kib_per_stream": {n: round((loaded[n] - idle[n]) / max(1, connected), 1) for n in pids},
        "cpu_cores": {
            **{n: round(c, 3) for n, c in cpu.items()},
            "load_generator": round(client_cpu, 3),
        },
        # Share of the window the process's threads were runnable but waiting for a CPU.
        "runnable_waiting": {n: round(v, 3) for n, v in starved.items()},
        "load_average": [round(x, 2) for x in load_avg],
        **extra,
    }


def restart(mesh: Any, service: str, *, envoy: bool) -> dict[str, int]:
    """The service stopped gracefully (its leases and locks released) and started again,
    then Envoy too when asked: fresh processes whose RSS is idle. Answers their pids."""
    proc = mesh.processes[service]
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    mesh.start_replica(service)
    pids = {"service": mesh.processes[service].pid}
    if envoy:
        gateway = mesh.processes.pop("envoy", None)
        if gateway is not None:
            gateway.terminate()
            gateway.wait(timeout=30)
        mesh.start_gateway()
        pids["envoy"] = mesh.processes["envoy"].pid
    time.sleep(2.0)  # settle: first health checks, feeds
    return pids


def print_row(row: dict[str, Any]) -> None:
    fails = sum(v["count"] for v in row["failed_before_first_message"].values())
    kib = ", ".join(f"{n} {v}" for n, v in row["kib_per_stream"].items())
    cpu = ", ".join(f"{n} {v * 100:.0f}%" for n, v in row["cpu_cores"].items())
    print(
        f"{row['transport']:>4} {row['streams']:>6}: connected {row['connected']} "
        f"(failed {fails}), lag p50 {row['lag_ms']['p50']} / p99 {row['lag_ms']['p99']} ms, "
        f"KiB/stream {kib}; CPU {cpu}; load {row['load_average'][0]}",
        flush=True,
    )


def write_results(name: str, doc: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(doc, indent=2))
    return path


def parse_counts(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def load_dict(load: Load) -> dict[str, Any]:
    return {
        k: v for k, v in asdict(load).items() if k not in ("grpc_requests", "sse_paths", "headers")
    }
