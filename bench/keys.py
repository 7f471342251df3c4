"""API keys for the benchmarks, made by mesh's own `issue_key` straight into the database the
benchmark's mesh uses (the admin RPC would need a key to begin with).

A bench key is not rate-limited (1,000,000 requests/s) unless asked, so a benchmark measures
the service, not the limiter; `limited=True` leaves the server's default limit.
"""

from __future__ import annotations

from mesh.apikey_admin import issue_key
from mesh.apikey_store import ApiKeyStore
from mesh.db import make_engine
from mesh.settings import Settings

UNLIMITED_PER_S = 1_000_000


async def bench_key(
    settings: Settings, *scopes: str, name: str = "bench", limited: bool = False
) -> str:
    """A new key with `scopes`, as its secret text."""
    engine = make_engine(settings.database_url)
    try:
        _, key = await issue_key(
            ApiKeyStore(engine),
            pepper=settings.api_key_pepper,
            name=name,
            scopes=scopes,
            rate_limit_per_s=None if limited else UNLIMITED_PER_S,
        )
    finally:
        await engine.dispose()
    return key
