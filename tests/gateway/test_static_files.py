"""Envoy answers static files itself: each named file at its path with its content type and
`nosniff`, the folder's index at the bare prefix, GET and HEAD only, nothing else under the
prefix, and no request reaching a service. A separate Envoy with upstreams that do not exist,
so any answer can only have come from Envoy."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cli.launcher import free_port, port_open
from gateway import envoy
from gateway.static_files import folder, max_body_bytes
from mesh.settings import Settings

PAGE = "<!doctype html><title>botmesh</title>" + "x" * 10_000  # past Envoy's 4 KiB default


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    (root / "index.html").write_text(PAGE)
    (root / "app.js").write_text("console.log('hi');\n")
    (root / ".secret").write_text("not served")
    return root


@pytest.fixture
def gateway(settings: Settings, site: Path, tmp_path: Path) -> Iterator[str]:
    upstreams = {s: [("127.0.0.1", 1)] for s in ("credential_svc", "trading_svc", "analysis_svc")}
    config = dataclasses.replace(
        envoy.gateway_config(settings, upstreams),
        listen_port=free_port(),
        admin_port=free_port(),
        static_files=folder("/site", site),
    )
    path = envoy.write_bootstrap(config, tmp_path / "envoy.json")
    checked = envoy.validate(path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    proc = envoy.start(path, tmp_path / "envoy.log", concurrency=1)
    try:
        for _ in range(300):
            if port_open("127.0.0.1", config.listen_port):
                break
            assert proc.poll() is None, (tmp_path / "envoy.log").read_text()
            time.sleep(0.1)
        yield f"http://127.0.0.1:{config.listen_port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_folder_lists_each_visible_file_and_its_index_at_the_prefix(site: Path) -> None:
    paths = {f.path: f.content_type for f in folder("/site/", site)}
    assert paths == {
        "/site/app.js": "text/javascript; charset=utf-8",
        "/site/index.html": "text/html; charset=utf-8",
        "/site/": "text/html; charset=utf-8",
        "/site": "text/html; charset=utf-8",
    }
    assert max_body_bytes(folder("/site", site)) > len(PAGE)


def test_a_missing_folder_serves_nothing(tmp_path: Path) -> None:
    assert folder("/site", tmp_path / "absent") == []


async def test_envoy_serves_each_file_with_its_type(gateway: str) -> None:
    async with httpx.AsyncClient(base_url=gateway, timeout=10) as http:
        page = await http.get("/site/")
        script = await http.get("/site/app.js")
        head = await http.head("/site/index.html")
    assert page.status_code == 200 and page.text == PAGE
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert script.text == "console.log('hi');\n"
    assert head.status_code == 200


@pytest.mark.parametrize("path", ["/site/.secret", "/site/../etc/passwd", "/site/nope.js"])
async def test_nothing_else_under_the_prefix_is_served(gateway: str, path: str) -> None:
    async with httpx.AsyncClient(base_url=gateway, timeout=10) as http:
        answer = await http.get(path)
    assert answer.status_code == 404
    assert answer.json()["details"][0]["reason"] == "UNKNOWN_ROUTE"


async def test_only_get_and_head_match(gateway: str) -> None:
    async with httpx.AsyncClient(base_url=gateway, timeout=10) as http:
        answer = await http.post("/site/app.js", content=b"{}")
    assert answer.status_code == 404
    assert "console.log" not in answer.text
