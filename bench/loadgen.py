"""The load tools every bench shares: wrk for HTTP/1.1 (REST), h2load for gRPC, and the CPU
time of a process from /proc."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentiles_us(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _header_args(headers: Sequence[str]) -> list[str]:
    return [arg for header in headers for arg in ("-H", header)]


def run_wrk(
    url: str, key: str, conns: int, duration: int, headers: Sequence[str] = ()
) -> dict[str, float]:
    """`headers`: more "name: value" headers, e.g. x-principal-id (bench/subscriptions.py)."""
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{conns}",
            f"-d{duration}s",
            "--latency",
            "-H",
            f"x-api-key: {key}",
            *_header_args(headers),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def pct(label: str) -> float:
        value, unit = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 1, "ms": 1e3, "s": 1e6}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50_us": pct("50"),
        "p99_us": pct("99"),
        "errors": int(errors.group(1)) if errors else 0,
    }


def run_h2load(
    url: str, body: Path, key: str, conns: int, duration: int, headers: Sequence[str] = ()
) -> dict[str, float]:
    with tempfile.NamedTemporaryFile(suffix=".tsv") as log:
        out = subprocess.run(
            [
                "h2load",
                f"-c{conns}",
                "-m1",
                "-t2",
                f"-D{duration}",
                "--warm-up-time=1",
                "-d",
                str(body),
                "-H",
                "content-type: application/grpc",
                "-H",
                "te: trailers",
                "-H",
                f"x-api-key: {key}",
                *_header_args(headers),
                f"--log-file={log.name}",
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        rows = [line.split("\t") for line in Path(log.name).read_text().splitlines() if line]
    rps = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1))  # type: ignore[union-attr]
    latencies = [float(r[2]) for r in rows if r[1] == "200"]
    p50, p99 = percentiles_us(latencies)
    failed = int(re.search(r"(\d+) failed", out).group(1))  # type: ignore[union-attr]
    return {"rps": rps, "p50_us": p50, "p99_us": p99, "errors": failed}
