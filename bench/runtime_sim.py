"""exchange_sim with as many spot markets as a bot-runtime benchmark wants (the default sim
has three), its clock at a chosen speed and its request-weight limit out of the way, so the
benchmark measures the runtime, not the venue's rate limiter.

    .venv/bin/python -m bench.runtime_sim --port 8090 --speed 60 --markets 20

Markets are <BASE>-USDT for the first `--markets` bases of BASES, each with filters scaled
to its price (a step worth about a cent or less, min notional 5 USDT), and a seeded price
path of its own (exchange_sim keys the path by seed and symbol).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "gen")]

from exchange_sim import MarketSpec, SimConfig, start_sim  # noqa: E402

# (base, reference price in USDT)
BASES: tuple[tuple[str, str], ...] = (
    ("BTC", "60000"),
    ("ETH", "3000"),
    ("SOL", "150"),
    ("BNB", "550"),
    ("XRP", "0.55"),
    ("ADA", "0.45"),
    ("DOGE", "0.12"),
    ("DOT", "6.5"),
    ("LTC", "80"),
    ("LINK", "14"),
    ("AVAX", "30"),
    ("TRX", "0.12"),
    ("ATOM", "8"),
    ("UNI", "7"),
    ("XLM", "0.1"),
    ("NEAR", "5"),
    ("FIL", "5"),
    ("APT", "8"),
    ("ARB", "1.1"),
    ("OP", "2.2"),
    ("ETC", "25"),
    ("BCH", "400"),
    ("ICP", "10"),
    ("AAVE", "90"),
)
MAX_MARKETS = len(BASES)


def market_specs(count: int) -> tuple[MarketSpec, ...]:
    """The first `count` markets, filters scaled to each one's price."""
    if not 1 <= count <= MAX_MARKETS:
        raise ValueError(f"markets must be 1..{MAX_MARKETS}")
    specs = []
    for base, ref in BASES[:count]:
        price = Decimal(ref)
        # A tick of about 1/10,000 of the price and an amount step worth about a cent.
        tick = Decimal(1).scaleb(price.adjusted() - 4)
        step = Decimal(1).scaleb(-max(0, price.adjusted() + 2))
        specs.append(
            MarketSpec(
                symbol=f"{base}USDT",
                base=base,
                quote="USDT",
                ref_price=price,
                tick_size=tick,
                step_size=step,
                min_qty=step,
                max_qty=Decimal("90000000"),
                max_price=price * 1000,
                level_qty=(Decimal(25_000) / price).quantize(step),
            )
        )
    return tuple(specs)


def market_names(count: int) -> list[str]:
    """The markets as botmesh names them ("BTC-USDT")."""
    return [f"{base}-USDT" for base, _ in BASES[:count]]


async def serve(port: int, speed: float, markets: int) -> None:
    config = SimConfig(seed=1, speed=speed, markets=market_specs(markets), weight_limit=100_000_000)
    server = await start_sim(config, host="127.0.0.1", port=port)
    print(f"exchange_sim listening on {server.base_url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--speed", type=float, default=60.0)
    parser.add_argument("--markets", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.speed, args.markets))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
