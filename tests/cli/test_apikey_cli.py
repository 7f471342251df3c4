"""`botmesh apikey create|list|revoke` against the running mesh."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx

from cli.launcher import Mesh


def botmesh(*args: str, admin_key: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        env={**os.environ, "BOTMESH_API_KEY": admin_key},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_create_list_and_revoke_a_key(mesh: Mesh, keys: dict[str, str]) -> None:
    out = botmesh(
        "apikey", "create", "--name", "cli reader", "--scopes", "read", admin_key=keys["admin"]
    )
    key = out.strip().splitlines()[-1]
    assert key.startswith("bm_")
    key_id = key.split("_")[1]
    listing = botmesh("apikey", "list", admin_key=keys["admin"])
    assert any(
        line.startswith(f"{key_id}\tactive\tread\tcli reader") for line in listing.splitlines()
    )
    assert key not in listing  # only ids and metadata are listed

    url = f"{mesh.rest_url}/v1/bots"
    assert httpx.get(url, headers={"x-api-key": key}).status_code == 200
    assert f"revoked {key_id}" in botmesh("apikey", "revoke", key_id, admin_key=keys["admin"])
    deadline = time.monotonic() + 5
    while httpx.get(url, headers={"x-api-key": key}).status_code != 401:
        assert time.monotonic() < deadline, "revoked key still accepted after 5 s"
        time.sleep(0.1)
