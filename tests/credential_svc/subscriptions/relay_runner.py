"""A relay in a process of its own, for the tests that SIGKILL it at random points: it runs
the real Relay's batches back to back against the given database and Redis and prints what
each batch did (`batch <settled> <published>`), so the test can tell when a row was found
already in the stream (a crash between the XADD and the mark)."""

from __future__ import annotations

import asyncio
import sys

from credential_svc.subscriptions.relay import Relay
from mesh.db import make_engine
from mesh.redis import make_redis


async def main(database_url: str, redis_url: str, batch: int) -> None:
    relay = Relay(make_engine(database_url), make_redis(redis_url), batch=batch)
    print("ready", flush=True)
    while True:
        step = await relay.relay_batch()
        if step.settled:
            print(f"batch {step.settled} {step.published}", flush=True)
        else:
            await asyncio.sleep(0.005)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
