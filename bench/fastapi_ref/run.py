"""Starts the reference app under uvicorn with N worker processes, as a user deploys it:
uvloop, httptools, no access log (the strongest stock settings), one port shared by the
workers (uvicorn's own supervisor with `--workers` > 1)."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def command(port: int, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.fastapi_ref.app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]


def start(port: int, workers: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """The app on 127.0.0.1:`port`, answering once every worker is up (`wait_ready`).
    `env` carries BOTMESH_DATABASE_URL, BOTMESH_REDIS_URL, BOTMESH_API_KEY_PEPPER and a
    PYTHONPATH reaching the repository."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            command(port, workers),
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    wait_ready(proc, port, workers)
    return proc


def processes(pid: int) -> list[int]:
    """`pid` and its descendants: the supervisor and its workers."""
    found = [pid]
    for child in _children(pid):
        found.extend(processes(child))
    return found


def _children(pid: int) -> list[int]:
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        return [int(c) for t in tasks for c in (t / "children").read_text().split()]
    except OSError:
        return []


def wait_ready(
    proc: subprocess.Popen[bytes], port: int, workers: int, timeout_s: float = 30
) -> None:
    """Until the port answers HTTP (any status) and every worker process exists."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {proc.returncode}")
        expected = workers + 1 if workers > 1 else 1
        if len(processes(proc.pid)) >= expected and _answers(port):
            return
        time.sleep(0.1)
    raise TimeoutError(f"uvicorn on {port} did not become ready in {timeout_s:.0f}s")


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/bots/x", timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # 401: the app is up
    except OSError:
        return False
