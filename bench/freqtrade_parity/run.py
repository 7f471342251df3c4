"""Regenerates the freqtrade parity fixtures: seeded candles, and the REAL freqtrade's trades
on them (see README.md beside this file).

Run with the repo's venv; freqtrade runs from its own venv (FT_VENV, default /work/ft-venv),
offline: candles come from a file in freqtrade's json data format, and its ccxt binance
client gets its markets (BTC/USDT, amount step 0.00001) from an exchange_sim started here,
every URL rewritten to it by exchanges/sim.py as the services' "sim" venue does.

    .venv/bin/python -m bench.freqtrade_parity.run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from exchange_sim import SimConfig, running_sim

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
OUT = REPO / "tests" / "analysis_svc" / "backtests" / "data"
CANDLES_FILE = "freqtrade_parity_candles.json"
TRADES_FILE = "freqtrade_parity_trades.json"

SEED = 20261202
CANDLE_COUNT = 2400
HOUR_MS = 3_600_000
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
START_PRICE = 60_000.0
VOLATILITY = 0.006  # per hour, log

# The parity settings (issue 10): the test reads them back from the trades file.
SETTINGS: dict[str, Any] = {
    "market": "BTC-USDT",
    "timeframe": "1h",
    "strategy": "ma_crossover",
    "params": {"fast": "20", "slow": "50"},
    "stake_quote": "100",
    "fee_rate": "0.001",
    "amount_step": "0.00001",
    "initial_balance": "1000",
}


def make_candles() -> list[list[float]]:
    """A seeded geometric random walk on a 0.01 tick: [open ms, o, h, l, c, volume] rows."""
    rng = np.random.default_rng(SEED)
    close = np.round(START_PRICE * np.exp(np.cumsum(rng.normal(0.0, VOLATILITY, CANDLE_COUNT))), 2)
    open_ = np.concatenate([[START_PRICE], close[:-1]])
    wick = np.abs(rng.normal(0.0, VOLATILITY / 2, (2, CANDLE_COUNT)))
    high = np.round(np.maximum(open_, close) * (1.0 + wick[0]), 2)
    low = np.round(np.minimum(open_, close) * (1.0 - wick[1]), 2)
    volume = np.round(rng.uniform(5.0, 50.0, CANDLE_COUNT), 4)
    rows = []
    for i in range(CANDLE_COUNT):
        o, c = float(open_[i]), float(close[i])
        h, lo = max(float(high[i]), o, c), min(float(low[i]), o, c)
        rows.append([START_MS + i * HOUR_MS, o, h, lo, c, float(volume[i])])
    return rows


def freqtrade_config(sim_url: str, work: Path) -> dict[str, Any]:
    from exchanges.sim import sim_config

    ccxt = sim_config("binance", sim_url, enableRateLimit=False)
    return {
        "max_open_trades": 1,
        "stake_currency": "USDT",
        "stake_amount": float(SETTINGS["stake_quote"]),
        "tradable_balance_ratio": 1.0,
        "dry_run": True,
        "dry_run_wallet": float(SETTINGS["initial_balance"]),
        "trading_mode": "spot",
        "timeframe": SETTINGS["timeframe"],
        "fee": float(SETTINGS["fee_rate"]),
        "dataformat_ohlcv": "json",
        "user_data_dir": str(work / "user_data"),
        "exchange": {
            "name": "binance",
            "key": "",
            "secret": "",
            "ccxt_config": ccxt,
            "ccxt_async_config": ccxt,
            "pair_whitelist": ["BTC/USDT"],
            "pair_blacklist": [],
        },
        "pairlists": [{"method": "StaticPairList"}],
        "entry_pricing": {"price_side": "same", "use_order_book": False},
        "exit_pricing": {"price_side": "same", "use_order_book": False},
    }


def read_trades(results: Path) -> list[dict[str, Any]]:
    """freqtrade's exported trades (the result zip's json), as the fixture stores them."""
    zips = sorted(results.glob("backtest-result-*.zip"))
    if not zips:
        raise SystemExit(f"freqtrade wrote no result zip in {results}")
    with zipfile.ZipFile(zips[-1]) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".json") and "_" not in n[-12:])
        data = json.loads(archive.read(name))
    (strategy,) = data["strategy"].values()
    return [
        {
            "open_timestamp": t["open_timestamp"],
            "close_timestamp": t["close_timestamp"],
            "open_rate": t["open_rate"],
            "close_rate": t["close_rate"],
            "amount": t["amount"],
            "stake_amount": t["stake_amount"],
            "profit_abs": t["profit_abs"],
            "exit_reason": t["exit_reason"],
        }
        for t in strategy["trades"]
    ]


async def run_freqtrade(ft_venv: Path, work: Path, candles: list[list[float]]) -> str:
    data = work / "data"
    data.mkdir(parents=True)
    (data / "BTC_USDT-1h.json").write_text(json.dumps(candles))
    results = work / "user_data" / "backtest_results"
    results.mkdir(parents=True)
    async with running_sim(SimConfig(seed=1)) as sim:
        config = work / "config.json"
        config.write_text(json.dumps(freqtrade_config(sim.base_url, work), indent=2))
        process = await asyncio.create_subprocess_exec(
            str(ft_venv / "bin" / "freqtrade"),
            "backtesting",
            "--config", str(config),
            "--strategy", "SmaCross",
            "--strategy-path", str(HERE),
            "--datadir", str(data),
            "--export", "trades",
            "--export-directory", str(results),
            "--cache", "none",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await process.communicate()
    log = output.decode(errors="replace")
    (work / "freqtrade.log").write_text(log)
    if process.returncode != 0:
        sys.stderr.write(log[-6000:])
        raise SystemExit(f"freqtrade failed ({process.returncode}); log in {work}")
    return log


def freqtrade_version(ft_venv: Path) -> str:
    found = sorted((ft_venv / "lib").glob("python3*/site-packages/freqtrade-*.dist-info"))
    return found[-1].name.removeprefix("freqtrade-").removesuffix(".dist-info") if found else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--ft-venv", type=Path, default=Path(os.environ.get("FT_VENV", "/work/ft-venv"))
    )
    parser.add_argument("--keep", action="store_true", help="keep freqtrade's work folder")
    args = parser.parse_args()
    candles = make_candles()
    work = Path(tempfile.mkdtemp(prefix="ft-parity-"))
    try:
        asyncio.run(run_freqtrade(args.ft_venv, work, candles))
        trades = read_trades(work / "user_data" / "backtest_results")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / CANDLES_FILE).write_text(json.dumps(candles, separators=(",", ":")) + "\n")
    fixture = {
        "freqtrade_version": freqtrade_version(args.ft_venv),
        "settings": SETTINGS,
        "profit_total_abs": round(sum(t["profit_abs"] for t in trades), 8),
        "trades": trades,
    }
    (OUT / TRADES_FILE).write_text(json.dumps(fixture, indent=1) + "\n")
    print(f"{len(candles)} candles, {len(trades)} freqtrade trades, "
          f"profit {fixture['profit_total_abs']} USDT -> {OUT}")  # fmt: skip


if __name__ == "__main__":
    main()
