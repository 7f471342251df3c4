"""Shared fixtures: a private MariaDB database and Redis DB for this run, migrated with the
project's own migrations, and the whole mesh (services + Envoy) started by the same launcher
`botmesh up` uses. Nothing of ours is mocked."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis as redis_sync

from cli.launcher import Mesh, isolated_env, mesh_env
from mesh.scopes import SCOPES
from mesh.settings import Settings, load_settings
from tests.support import RECV_WINDOW_MS, TEST_REDIS_DB, admin_sql, alembic, mariadb_url


@pytest.fixture(scope="session")
def scratch_database() -> Iterator[str]:
    """Makes empty MariaDB databases on demand; drops them at the end of the run."""
    made: list[str] = []

    def make() -> str:
        name = f"botmesh_t_{secrets.token_hex(4)}"
        admin_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        made.append(name)
        return name

    yield make  # type: ignore[misc]
    for name in made:
        admin_sql(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture(scope="session")
def settings(scratch_database, tmp_path_factory: pytest.TempPathFactory) -> Settings:  # type: ignore[no-untyped-def]
    """Settings of this run, exported as BOTMESH_* so the mesh processes share them."""
    database = scratch_database()
    url = mariadb_url(database)
    result = alembic(url, "upgrade", "head")
    assert result.returncode == 0, result.stderr
    state = tmp_path_factory.mktemp("state")
    overrides = isolated_env(
        state_dir=state, database_url=url, redis_url=f"redis://127.0.0.1:6379/{TEST_REDIS_DB}"
    )
    overrides |= {
        "BOTMESH_AUTH_CACHE_TTL": "2",
        # Load tests (1,000 concurrent calls on one key) stay under it; rate-limit tests give
        # their keys a low rate of their own.
        "BOTMESH_RATE_LIMIT_PER_S": "5000",
        "BOTMESH_GRACE_PERIOD": "3",
        "BOTMESH_LOG_LEVEL": "INFO",
        # The venue of this run: the `exchange_sim` fixture serves BOTMESH_EXCHANGE_SIM_URL.
        "BOTMESH_EXCHANGE_VENUE": "sim",
        # trading_svc: short exchange timeouts and heartbeats keep the fault tests quick.
        "BOTMESH_EXCHANGE_TIMEOUT_MS": "2000",
        "BOTMESH_EXCHANGE_RECV_WINDOW_MS": str(RECV_WINDOW_MS),
        "BOTMESH_STREAM_HEARTBEAT_S": "2",
        # Bots trade by themselves only in the meshes of the runtime's own tests
        # (tests/e2e/test_bot_runtime*.py), so the orders other tests count are their own.
        "BOTMESH_RUNTIME_ENABLED": "false",
    }
    os.environ.update(overrides)
    redis_sync.Redis.from_url(overrides["BOTMESH_REDIS_URL"]).flushdb()
    return load_settings()


@pytest.fixture(scope="session")
def mesh(settings: Settings) -> Iterator[Mesh]:
    """The running mesh: credential_svc, trading_svc, analysis_svc and Envoy."""
    running = Mesh(settings, mesh_env())
    try:
        running.start_services()
        running.start_gateway()
        yield running
    except Exception:
        _dump_logs(settings.state_dir / "logs")
        raise
    finally:
        running.stop()


def _dump_logs(folder: Path) -> None:
    for log in sorted(folder.glob("*.log")):
        print(f"--- {log.name}\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
async def exchange_sim(settings: Settings) -> AsyncIterator[object]:
    """exchange_sim on the run's venue URL, served in the test loop, for the services to
    call (verification, trading)."""
    from urllib.parse import urlparse

    from exchange_sim import SimConfig, start_sim

    port = urlparse(settings.exchange_sim_url).port
    server = await start_sim(SimConfig(seed=3), port=port or 0)
    yield server
    await server.close()


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[object]:
    from mesh.db import make_engine

    eng = make_engine(settings.database_url)
    yield eng
    await eng.dispose()


@pytest.fixture(scope="session")
async def issue_key(settings: Settings, engine):  # type: ignore[no-untyped-def]
    """Issues a real API key in the run's database: issue_key("read", "bots:write"), or with a
    rate of its own: issue_key("read", rate_limit_per_s=2)."""
    from mesh.apikey_admin import issue_key as issue
    from mesh.apikey_store import ApiKeyStore

    store = ApiKeyStore(engine)

    async def make(
        *scopes: str, name: str = "test", rate_limit_per_s: int | None = None
    ) -> tuple[str, str]:
        record, key = await issue(
            store,
            pepper=settings.api_key_pepper,
            name=name,
            scopes=scopes,
            rate_limit_per_s=rate_limit_per_s,
        )
        return record.key_id, key

    return make


@pytest.fixture(scope="session")
async def keys(issue_key) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """One key per scope, plus one with every scope."""
    made = {}
    for scope in SCOPES:
        made[scope] = (await issue_key(scope, name=f"e2e {scope}"))[1]
    return made
