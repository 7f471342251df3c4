"""A gateway of a test's own: the same bootstrap as the mesh's (gateway/envoy.py), on free
ports, forwarding to the given upstreams, with any GatewayConfig field changed (a CORS list,
static files)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cli.launcher import free_port, port_open
from gateway import envoy
from mesh.settings import Settings

DEAD_UPSTREAMS = {s: [("127.0.0.1", 1)] for s in ("credential_svc", "trading_svc", "analysis_svc")}


@contextmanager
def gateway(
    settings: Settings,
    workdir: Path,
    upstreams: dict[str, list[tuple[str, int]]],
    **changes: Any,
) -> Iterator[str]:
    """Envoy rendered from `settings` with `changes` to its GatewayConfig, until the block
    ends; yields its base URL."""
    config = envoy.gateway_config(settings, upstreams)
    config = dataclasses.replace(
        config, listen_port=free_port(), admin_port=free_port(), stats_port=0, **changes
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
