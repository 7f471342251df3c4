"""Settings read from BOTMESH_* variables: the ledgers whose payments are credited."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh.settings import ICP_LEDGER, load_settings


@pytest.fixture(autouse=True)
def state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BOTMESH_STATE_DIR", str(tmp_path))


def test_only_the_icp_ledger_is_accepted_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BOTMESH_ACCEPTED_LEDGERS", raising=False)
    assert load_settings().accepted_ledgers == {ICP_LEDGER} == {"ryjl3-tyaaa-aaaaa-aaaba-cai"}


def test_accepted_ledgers_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOTMESH_ACCEPTED_LEDGERS", f" {ICP_LEDGER}, mxzaz-hqaaa-aaaar-qaada-cai,,")
    assert load_settings().accepted_ledgers == {ICP_LEDGER, "mxzaz-hqaaa-aaaar-qaada-cai"}
