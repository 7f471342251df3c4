"""Helpers shared by tests: the run's MariaDB and the project's own Alembic."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pymysql

from cli.launcher import mesh_env
from mesh.settings import ROOT, Settings

MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}
# Concurrent runs on one machine (worktrees) each take their own DB: BOTMESH_TEST_REDIS_DB.
TEST_REDIS_DB = int(os.environ.get("BOTMESH_TEST_REDIS_DB", "9"))
# The recvWindow every trading_svc of a run signs with. Replicas must agree on it: one that
# counts a shorter window would call a request lost (and resend it) while another replica's
# request may still land. Long enough for the crash tests to restart a process inside it.
RECV_WINDOW_MS = 6000


def admin_sql(sql: str) -> None:
    conn = pymysql.connect(**MARIADB, autocommit=True)  # type: ignore[arg-type]
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def mariadb_url(database: str) -> str:
    return f"mysql+aiomysql://root@127.0.0.1:3306/{database}"


def alembic(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "alembic",
            "-c",
            str(ROOT / "alembic.ini"),
            "-x",
            f"url={url}",
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=mesh_env(),
        check=False,
    )


def count_rows(settings: Settings, table: str) -> int:
    database = settings.database_url.rsplit("/", 1)[1]
    conn = pymysql.connect(**MARIADB, database=database)  # type: ignore[arg-type]
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT COUNT(*) FROM {table}")
            row: Any = cur.fetchone()
            return int(row[0])
    finally:
        conn.close()


async def run_command(
    argv: list[str], *, cwd: Path, env: dict[str, str], limit_s: float
) -> tuple[int, str, str]:
    """A program run to its end (killed past `limit_s` s): its exit code, stdout, stderr."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=limit_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode(), err.decode()
