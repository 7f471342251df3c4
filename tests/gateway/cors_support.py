"""A gateway of a test's own with a CORS list of its choosing: the same bootstrap as the
mesh's (gateway/envoy.py), on free ports, forwarding to the given upstreams."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cli.launcher import Mesh, free_port, port_open
from cli.replicas import address_of
from gateway import envoy
from mesh.settings import Settings

DEAD_UPSTREAMS = {s: [("127.0.0.1", 1)] for s in ("credential_svc", "trading_svc", "analysis_svc")}


def upstreams_of(mesh: Mesh) -> dict[str, list[tuple[str, int]]]:
    return {
        service: [(address_of(mesh.settings, service).host, r.port) for r in planned]
        for service, planned in mesh.plan.items()
    }


@contextmanager
def gateway(
    settings: Settings,
    workdir: Path,
    upstreams: dict[str, list[tuple[str, int]]],
    cors_origins: tuple[str, ...] | None = None,
) -> Iterator[str]:
    """Envoy rendered from `settings` (its cors_origins unless given), until the block ends;
    yields its base URL."""
    config = envoy.gateway_config(settings, upstreams)
    config = dataclasses.replace(
        config,
        listen_port=free_port(),
        admin_port=free_port(),
        cors_origins=settings.cors_origins if cors_origins is None else cors_origins,
    )
    path = envoy.write_bootstrap(config, workdir / "envoy.json")
    checked = envoy.validate(path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    proc = envoy.start(path, workdir / "envoy.log", concurrency=1)
    try:
        for _ in range(300):
            if port_open("127.0.0.1", config.listen_port):
                break
            assert proc.poll() is None, (workdir / "envoy.log").read_text()
            time.sleep(0.1)
        yield f"http://127.0.0.1:{config.listen_port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
