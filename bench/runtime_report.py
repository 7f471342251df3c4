"""The bot-runtime benchmark's report, as text (bench/bot_runtime.py writes the JSON)."""

from __future__ import annotations

from typing import Any


def _lat(name: str, s: dict[str, float]) -> str:
    return (
        f"  {name:<22} p50 {s['p50_s']:6.2f} s   p99 {s['p99_s']:6.2f} s   "
        f"max {s['max_s']:6.2f} s   (n={s['n']:.0f})"
    )


def _s(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f} s"


def _ticks(t: dict[str, Any]) -> list[str]:
    lines = [
        f"  ticks expected {t['expected']}, recorded {t['recorded']}, missed {t['missed']}, "
        f"claimed but not done {t['claimed_not_done']}",
        _lat("enqueue -> decision", t["enqueue_to_decision"]),
        _lat("close -> enqueue", t["close_to_enqueue"]),
        _lat("close -> decision", t["close_to_decision"]),
        _lat("candle drain", t["candle_drain_s"]),
        f"  throughput while draining: {t['ticks_per_s_while_draining']:.0f} ticks/s",
        f"  decided by: {t['decided_by']}",
        "  outcomes: " + ", ".join(f"{k} {v}" for k, v in t["outcomes"].items()),
    ]
    if t["missed_samples"]:
        lines.append(f"  missed, e.g.: {t['missed_samples']}")
    return lines


def print_report(report: dict[str, Any]) -> None:
    a = report["args"]
    w = report["window"]
    print(
        f"\n{a['bots']} bots over {a['markets']} markets, 1m candles, exchange_sim at "
        f"{a['sim_speed']:g}x (a candle every {60 / a['sim_speed']:.1f} s), "
        f"trading_svc x{a['replicas']}; setup {report['setup_s']:.0f} s"
    )
    print(f"Window: {len(w['candles'])} candles in {w['wall_s']:.1f} s")
    for line in _ticks(w):
        print(line)
    print(
        f"  (subscription, candle) enqueued twice {w['enqueued_twice']}, "
        f"recorded twice {w['duplicates']}"
    )
    print(
        f"  analysis computations per candle {w['analysis_computations_per_candle']} "
        f"vs distinct (market, strategy, params) {w['distinct_market_strategy_params']}"
    )
    print(
        f"  trading_svc CPU {w['trading_cpu_s']:.1f} s = {w['trading_cpu_ms_per_tick']:.2f} "
        f"ms per tick, {w['trading_core_share']:.2f} of a core, "
        f"{w['trading_cpu_wait_s']:.1f} s runnable but waiting for a CPU; other CPU s "
        + ", ".join(f"{k} {v:.1f}" for k, v in w["other_cpu_s"].items())
    )
    print(
        f"  trading_svc RSS {w['trading_rss_mb']:.0f} MB (idle {w['trading_rss_idle_mb']:.0f} "
        f"MB): {w['trading_rss_kb_per_bot']:.0f} KB per bot"
    )
    f = report.get("failover")
    if f:
        print(f"\nFailover: SIGKILL {f['killed']}; new leader {f['new_leader']}")
        print(
            f"  killed {f['kill_before_close_s']:.2f} s before a candle close; kill -> survivor "
            f"holds the lock {_s(f['kill_to_new_leader_s'])}, kill -> its first enqueue "
            f"{_s(f['kill_to_next_enqueue_s'])} (that close -> enqueue "
            f"{_s(f['close_to_next_enqueue_s'])})"
        )
        print(f"  over the {len(f['candles'])} candles since the window:")
        for line in _ticks(f):
            print(line)
    print(f"\n(subscription, candle) recorded twice overall: {report['duplicates_total']}")
    print(
        "every decision of the run: "
        + ", ".join(f"{k} {v}" for k, v in report["outcomes_total"].items())
    )
    print(f"logs: {report['logs']}")
