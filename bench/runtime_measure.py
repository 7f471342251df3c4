"""What the bot-runtime benchmark reads back, and how it turns it into figures.

Sources, all of them records the mesh keeps anyway:
- trading_svc's `bot_decisions` (one row per (subscription, candle), unique; `complete_time`
  when the decision was recorded, `claimed_by` the replica that decided it);
- the tick stream (runtime/queue.py): an entry's id is the Redis time, in ms, at which the
  scheduler's leader enqueued it, so it is the tick's enqueue time;
- analysis_svc's `decisions` table: one row per computed decision (per cache key), written
  where its DECISIONS_COMPUTED counter is incremented;
- exchange_sim's /admin/health (wall and sim time at one instant), which maps a candle's
  venue close (open + 60 s of sim time) to wall time;
- psutil on the service processes: CPU seconds and RSS.
"""

from __future__ import annotations

import contextlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import pymysql
import redis

TICKS = "botmesh:runtime:ticks"
LEADER_KEY = "botmesh:runtime:leader"
MINUTE_MS = 60_000


def ms(at: datetime) -> int:
    return int(at.replace(tzinfo=UTC).timestamp() * 1000)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def spread(values: list[float]) -> dict[str, float]:
    """p50, p99 and max, in seconds, of values in ms."""
    return {
        "p50_s": percentile(values, 0.5) / 1000,
        "p99_s": percentile(values, 0.99) / 1000,
        "max_s": (max(values) if values else float("nan")) / 1000,
        "n": len(values),
    }


@dataclass(frozen=True)
class VenueClock:
    """exchange_sim's sim time against wall time, from one reading of /admin/health."""

    wall_ms: int
    sim_ms: int
    speed: float

    @classmethod
    def read(cls, sim_url: str) -> VenueClock:
        health = httpx.get(f"{sim_url}/admin/health", timeout=5).json()
        return cls(int(health["server_time"]), int(health["sim_time"]), float(health["speed"]))

    def wall_of(self, sim_ms: int) -> float:
        return self.wall_ms + (sim_ms - self.sim_ms) / self.speed

    def candle_s(self) -> float:
        """Wall seconds per 1-minute candle."""
        return 60.0 / self.speed


class Records:
    """Queries on the bench's database (trading's and analysis's tables share it)."""

    def __init__(self, conn: pymysql.Connection, database: str) -> None:  # type: ignore[type-arg]
        self._conn = conn
        self._db = database

    def _rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with self._conn.cursor() as cur:
            cur.execute(sql.replace("DB.", f"{self._db}."), args)
            return list(cur.fetchall())

    def live(self) -> int:
        """Subscriptions with at least one recorded decision."""
        sql = "SELECT COUNT(DISTINCT subscription_id) FROM DB.bot_decisions WHERE state='done'"
        return int(self._rows(sql)[0][0])

    def newest_candle(self) -> datetime | None:
        return self._rows("SELECT MAX(candle_time) FROM DB.bot_decisions")[0][0]  # type: ignore[no-any-return]

    def done_at(self, candle: datetime) -> int:
        sql = "SELECT COUNT(*) FROM DB.bot_decisions WHERE state='done' AND candle_time=%s"
        return int(self._rows(sql, candle)[0][0])

    def decisions(self, after: datetime, through: datetime) -> list[tuple[Any, ...]]:
        """(subscription, candle, state, claimed_by, complete_time, outcome, reason)."""
        return self._rows(
            "SELECT subscription_id, candle_time, state, claimed_by, complete_time, outcome,"
            " reason FROM DB.bot_decisions WHERE candle_time > %s AND candle_time <= %s",
            after,
            through,
        )

    def outcomes(self) -> dict[str, int]:
        """Every recorded decision of the run (warm-up included) by outcome and reason."""
        rows = self._rows(
            "SELECT outcome, reason, COUNT(*) FROM DB.bot_decisions WHERE state='done'"
            " GROUP BY outcome, reason ORDER BY COUNT(*) DESC"
        )
        return {f"{r[0]} {r[1]}".strip(): int(r[2]) for r in rows}

    def duplicates(self) -> int:
        return len(
            self._rows(
                "SELECT subscription_id, candle_time FROM DB.bot_decisions"
                " GROUP BY subscription_id, candle_time HAVING COUNT(*) > 1"
            )
        )

    def computations(self, after: datetime, through: datetime) -> dict[datetime, int]:
        """Analysis decisions computed per candle."""
        rows = self._rows(
            "SELECT candle_time, COUNT(*) FROM DB.decisions WHERE candle_time > %s"
            " AND candle_time <= %s GROUP BY candle_time",
            after,
            through,
        )
        return {r[0]: int(r[1]) for r in rows}


class TickStream:
    """The tick stream on the mesh's Redis."""

    def __init__(self, url: str) -> None:
        self.redis = redis.Redis.from_url(url, decode_responses=True)

    def enqueued(self) -> tuple[dict[tuple[str, int], int], int]:
        """{(subscription, candle open ms): first enqueue ms}, and how many (subscription,
        candle) were enqueued more than once."""
        first: dict[tuple[str, int], int] = {}
        seen: Counter[tuple[str, int]] = Counter()
        start = "-"
        while True:
            batch: Any = self.redis.xrange(TICKS, min=start, max="+", count=10_000)
            for entry_id, fields in batch:
                key = (str(fields["s"]), int(fields["t"]))
                seen[key] += 1
                first.setdefault(key, int(str(entry_id).split("-")[0]))
            if len(batch) < 10_000:
                break
            start = "(" + str(batch[-1][0])
        return first, sum(1 for n in seen.values() if n > 1)

    def last_enqueue_ms(self) -> int:
        newest: Any = self.redis.xrevrange(TICKS, count=1)
        return int(str(newest[0][0]).split("-")[0]) if newest else 0

    def leader(self) -> str:
        """The replica id holding the scheduler's lock ("" when none)."""
        token = self.redis.get(LEADER_KEY)
        return str(token).rsplit(":", 1)[0] if token else ""


def cpu_rss(pids: list[int]) -> tuple[float, int]:
    """CPU seconds (user + system) and RSS bytes of the processes, summed."""
    cpu, rss = 0.0, 0
    for pid in pids:
        proc = psutil.Process(pid)
        times = proc.cpu_times()
        cpu += times.user + times.system
        rss += proc.memory_info().rss
    return cpu, rss


def cpu_wait(pids: list[int]) -> float:
    """Seconds the processes' threads were runnable but waiting for a CPU (Linux schedstat):
    what a machine shared with other work costs them."""
    waited = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*/schedstat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                waited += int(task.read_text().split()[1])
    return waited / 1e9


def tick_figures(
    rows: list[tuple[Any, ...]],
    enqueued: dict[tuple[str, int], int],
    clock: VenueClock,
    subscriptions: list[str],
    candles: list[datetime],
) -> dict[str, Any]:
    """Expected vs recorded ticks over `candles` for every subscription, the latencies of
    the recorded ones, and each candle's drain (first enqueue to last decision)."""
    done = {(r[0], ms(r[1])): r for r in rows if r[2] == "done"}
    expected = {(s, ms(c)) for s in subscriptions for c in candles}
    missing = expected - done.keys()
    queue_lat: list[float] = []
    close_lat: list[float] = []
    sched_lat: list[float] = []
    per_candle: dict[int, list[tuple[int, int]]] = defaultdict(list)
    outcomes: Counter[str] = Counter()
    replicas: Counter[str] = Counter()
    for key, row in done.items():
        if key not in expected:
            continue
        outcomes[f"{row[5]} {row[6]}".strip()] += 1
        replicas[row[3]] += 1
        complete = ms(row[4])
        close_wall = clock.wall_of(key[1] + MINUTE_MS)
        close_lat.append(complete - close_wall)
        if key in enqueued:
            queue_lat.append(complete - enqueued[key])
            sched_lat.append(enqueued[key] - close_wall)
            per_candle[key[1]].append((enqueued[key], complete))
    drains = [
        (max(c for _, c in pairs) - min(e for e, _ in pairs)) / 1000
        for pairs in per_candle.values()
    ]
    return {
        "expected": len(expected),
        "recorded": len(expected) - len(missing),
        "missed": len(missing),
        "claimed_not_done": sum(1 for r in rows if r[2] != "done"),
        "missed_samples": sorted(f"{s} {c}" for s, c in missing)[:5],
        "enqueue_to_decision": spread(queue_lat),
        "close_to_enqueue": spread(sched_lat),
        "close_to_decision": spread(close_lat),
        "candle_drain_s": spread([d * 1000 for d in drains]),
        "ticks_per_s_while_draining": (
            sum(len(p) for p in per_candle.values()) / sum(drains) if sum(drains) else 0.0
        ),
        "outcomes": dict(outcomes.most_common()),
        "decided_by": dict(replicas),
    }
