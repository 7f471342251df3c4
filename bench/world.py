"""A benchmark's own world, set up one way for every bench: a fresh MariaDB database, the
environment of a private mesh beside any other (free ports, fresh secrets, its Redis DB), and
API keys.

Keys are made by mesh's own `issue_key` straight into the database (the admin RPC would need a
key to begin with). A bench key is not rate-limited (1,000,000 requests/s) unless asked, so a
benchmark measures the service, not the limiter; `limited=True` leaves the server's default.
"""

from __future__ import annotations

from pathlib import Path

import pymysql

from cli.launcher import isolated_env
from mesh.apikey_admin import issue_key
from mesh.apikey_store import ApiKeyStore
from mesh.db import make_engine
from mesh.settings import Settings

UNLIMITED_PER_S = 1_000_000


def fresh_database(name: str) -> pymysql.Connection:  # type: ignore[type-arg]
    """An empty database `name` (a previous run's is dropped); returns the admin connection
    that drops it again in `drop_database`."""
    admin = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name}")
        cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    return admin


def drop_database(admin: pymysql.Connection, name: str) -> None:  # type: ignore[type-arg]
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name}")


def bench_env(state: Path, database: str, redis_url: str) -> dict[str, str]:
    """BOTMESH_* settings for a private mesh on `database` and `redis_url`, quiet logs."""
    overrides = isolated_env(
        state_dir=state,
        database_url=f"mysql+aiomysql://root@127.0.0.1:3306/{database}",
        redis_url=redis_url,
    )
    overrides["BOTMESH_LOG_LEVEL"] = "WARNING"
    return overrides


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
