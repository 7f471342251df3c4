"""Runs the fake LLM in its own process: python -m analysis_svc.llm_fake --port N.

Drive it with POST /_script and read GET /_calls (see server.py).
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from analysis_svc.llm_fake.server import start_fake_llm


async def _serve(host: str, port: int) -> None:
    server = await start_fake_llm(host, port)
    print(f"fake LLM listening on {server.base_url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.host, args.port))


if __name__ == "__main__":
    main()
