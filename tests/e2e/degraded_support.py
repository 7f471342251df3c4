"""A whole mesh wired to private Redis / MariaDB servers (tests/private_servers.py) through
the same launcher `botmesh up` uses, and readers of what an outage answered. Used by the
tests/e2e/test_degraded_*.py tests and bench/outage.py."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import httpx

from cli.launcher import Mesh, isolated_env, mesh_env
from mesh.settings import Settings, load_settings

RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"


def start_mesh(
    state_dir: Path,
    *,
    database_url: str,
    redis_url: str,
    replicas: dict[str, int] | None = None,
    sim_speed: float | None = None,
    env: dict[str, str] | None = None,
) -> Mesh:
    """exchange_sim (its clock at `sim_speed`), the three services (`replicas` processes
    each, default 1) and Envoy on free ports, against the given database and Redis; `env`
    adds or overrides BOTMESH_* settings."""
    overrides = isolated_env(state_dir=state_dir, database_url=database_url, redis_url=redis_url)
    overrides |= {
        "BOTMESH_AUTH_CACHE_TTL": "2",
        "BOTMESH_RATE_LIMIT_PER_S": "5000",
        "BOTMESH_GRACE_PERIOD": "3",
        "BOTMESH_LOG_LEVEL": "INFO",
        "BOTMESH_EXCHANGE_VENUE": "sim",
        "BOTMESH_STREAM_HEARTBEAT_S": "2",
    }
    overrides |= env or {}
    with mock.patch.dict(os.environ, overrides):  # the settings these processes will load
        settings = load_settings()
    mesh = Mesh(settings, mesh_env(overrides), replicas=replicas or {}, sim_speed=sim_speed)
    try:
        mesh.ensure_exchange_sim()
        mesh.start_services()
        mesh.start_gateway()
    except BaseException:
        mesh.stop()
        raise
    return mesh


async def issue(settings: Settings, *scopes: str, rate_limit_per_s: int | None = None) -> str:
    """A real API key in the mesh's database."""
    from mesh.apikey_admin import issue_key
    from mesh.apikey_store import ApiKeyStore
    from mesh.db import make_engine

    engine = make_engine(settings.database_url)
    try:
        _, key = await issue_key(
            ApiKeyStore(engine),
            pepper=settings.api_key_pepper,
            name="degraded",
            scopes=scopes,
            rate_limit_per_s=rate_limit_per_s,
        )
    finally:
        await engine.dispose()
    return key


def kind(resp: httpx.Response) -> str:
    """'2xx', '4xx', '503' or '5xx-other': the classes an outage drill counts."""
    if resp.status_code < 300:
        return "2xx"
    if resp.status_code == 503:
        return "503"
    return "4xx" if resp.status_code < 500 else "5xx-other"


def details(resp: httpx.Response) -> dict[str, dict[str, Any]]:
    """The google.rpc.Status details of an error answer, by type URL."""
    return {d["@type"]: d for d in resp.json().get("details", [])}


def is_dependency_503(resp: httpx.Response, dependency: str) -> bool:
    """503, reason DEPENDENCY_UNAVAILABLE naming the dependency, with a RetryInfo delay."""
    if resp.status_code != 503:
        return False
    found = details(resp)
    info, retry = found.get(ERROR_INFO, {}), found.get(RETRY_INFO, {})
    return (
        info.get("reason") == "DEPENDENCY_UNAVAILABLE"
        and info.get("metadata", {}).get("dependency") == dependency
        and retry.get("retry_delay") == "1s"
    )


async def until(check: Callable[[], Any], timeout_s: float = 30) -> Any:
    """Polls an async check until it returns something truthy."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.2)
