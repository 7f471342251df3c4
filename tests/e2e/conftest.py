"""End-to-end fixtures: clients of the running mesh through Envoy."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from cli.launcher import Mesh


@pytest.fixture(scope="session")
async def rest(mesh: Mesh) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=mesh.rest_url, timeout=10) as client:
        yield client
