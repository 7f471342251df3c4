"""End-to-end fixtures: clients of the running mesh through Envoy, meshes of a test's own
(`private_meshes`), and, for a failing test, the ERROR records its meshes logged meanwhile
(tests/e2e/mesh_logs.py), printed with the failure."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from cli.launcher import Mesh
from tests.e2e import mesh_logs
from tests.e2e.private_mesh import PrivateMeshes

STARTED = pytest.StashKey[datetime]()


@pytest.fixture(scope="session")
async def rest(mesh: Mesh) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=mesh.rest_url, timeout=10) as client:
        yield client


@pytest.fixture
def private_meshes(
    scratch_database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrivateMeshes]:  # type: ignore[no-untyped-def]
    """A factory of private meshes: `private_meshes.start(replicas={"trading_svc": 2},
    sim_speed=60)`. Each is stopped when the test ends."""
    meshes = PrivateMeshes(scratch_database, lambda: tmp_path_factory.mktemp("private-mesh"))
    try:
        yield meshes
    finally:
        meshes.stop_all()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[STARTED] = datetime.now(UTC)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[Any]
) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if not report.failed or STARTED not in item.stash:
        return
    text = mesh_logs.report(_meshes(item), item.stash[STARTED])
    if text:
        report.sections.append(("mesh service logs: ERROR records", text))


def _meshes(item: pytest.Item) -> list[Mesh]:
    """The meshes the test ran against: any Mesh among its fixtures (the session's one
    included, through `rest`), and the private ones it started."""
    found: list[Mesh] = []
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, Mesh):
            found.append(value)
        elif isinstance(value, PrivateMeshes):
            found.extend(value.started)
    return list({id(m): m for m in found}.values())
