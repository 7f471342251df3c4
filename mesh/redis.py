"""The shared redis.asyncio client."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis

# A burst beyond this many concurrent commands (or blocked stream reads) waits for a free
# connection, up to the timeout, rather than failing as the default pool does.
MAX_CONNECTIONS = 512


def make_redis(url: str, *, max_connections: int = MAX_CONNECTIONS) -> Redis:
    pool = BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=10)
    return Redis(connection_pool=pool, health_check_interval=30)
