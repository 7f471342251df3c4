"""Envoy answers static files itself: each named file at its path with its content type and
`nosniff`, the folder's index at the bare prefix, GET and HEAD only, nothing else under the
prefix, and no request reaching a service. A separate Envoy with upstreams that do not exist,
so any answer can only have come from Envoy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.static_files import folder, max_body_bytes
from mesh.settings import Settings
from tests.gateway.gateway_support import DEAD_UPSTREAMS, gateway

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
def site_gateway(settings: Settings, site: Path, tmp_path: Path) -> Iterator[str]:
    with gateway(settings, tmp_path, DEAD_UPSTREAMS, static_files=folder("/site", site)) as url:
        yield url


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


async def test_envoy_serves_each_file_with_its_type(site_gateway: str) -> None:
    async with httpx.AsyncClient(base_url=site_gateway, timeout=10) as http:
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
async def test_nothing_else_under_the_prefix_is_served(site_gateway: str, path: str) -> None:
    async with httpx.AsyncClient(base_url=site_gateway, timeout=10) as http:
        answer = await http.get(path)
    assert answer.status_code == 404
    assert answer.json()["details"][0]["reason"] == "UNKNOWN_ROUTE"


async def test_only_get_and_head_match(site_gateway: str) -> None:
    async with httpx.AsyncClient(base_url=site_gateway, timeout=10) as http:
        answer = await http.post("/site/app.js", content=b"{}")
    assert answer.status_code == 404
    assert "console.log" not in answer.text
