"""``python -m exchange_sim``: serve the simulator until SIGINT/SIGTERM.

Prints one line ``exchange_sim listening on http://HOST:PORT`` once the socket is bound (with
``--port 0`` that is how a parent process learns the port).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time

from exchange_sim.app import start_sim
from exchange_sim.config import SimConfig


def _parser() -> argparse.ArgumentParser:
    env = os.environ
    p = argparse.ArgumentParser(prog="exchange_sim", description=__doc__)
    p.add_argument(
        "--host", default=env.get("BOTMESH_SIM_HOST", "127.0.0.1"), help="exchange_sim's host"
    )
    p.add_argument(
        "--port",
        type=int,
        default=int(env.get("BOTMESH_SIM_PORT", "8090")),
        help="exchange_sim's port",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=int(env.get("BOTMESH_SIM_SEED", "1")),
        help="seed of the simulated price paths (the same seed, the same market)",
    )
    p.add_argument(
        "--speed",
        type=float,
        default=float(env.get("BOTMESH_SIM_SPEED", "1.0")),
        help="the market clock's speed: 60 closes a 1-minute candle every second",
    )
    p.add_argument(
        "--start-behind-s",
        type=float,
        default=float(env.get("BOTMESH_SIM_START_BEHIND_S", "0")),
        help="start the market clock this many seconds in the past (with --speed above 1, "
        "the market catches up with the wall clock after start-behind / (speed - 1) seconds)",
    )
    p.add_argument(
        "--admin-token",
        default=env.get("BOTMESH_SIM_ADMIN_TOKEN") or None,
        help="token its /admin API requires in X-Admin-Token (none: open)",
    )
    p.add_argument(
        "--weight-limit",
        type=int,
        default=int(env.get("BOTMESH_SIM_WEIGHT_LIMIT", "6000")),
        help="request weight an API key may use per minute, as Binance counts it",
    )
    p.add_argument("--ws-interval", type=float, default=1.0, help="seconds between stream pushes")
    p.add_argument(
        "--log-level",
        default=env.get("BOTMESH_SIM_LOG_LEVEL", "INFO"),
        help="exchange_sim's log level",
    )
    return p


async def _serve(args: argparse.Namespace) -> None:
    if args.speed <= 0:
        raise SystemExit("--speed must be positive")
    config = SimConfig(
        seed=args.seed,
        speed=args.speed,
        start_ms=int((time.time() - args.start_behind_s) * 1000) if args.start_behind_s else None,
        admin_token=args.admin_token,
        weight_limit=args.weight_limit,
        ws_interval_s=args.ws_interval,
    )
    server = await start_sim(config, host=args.host, port=args.port)
    print(f"exchange_sim listening on {server.base_url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.close()


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
