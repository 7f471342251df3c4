"""Settings read from BOTMESH_* variables: the ledgers whose payments are credited, Envoy's
worker count."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh.settings import DEFAULT_ENVOY_WORKERS, ICP_LEDGER, load_settings


@pytest.fixture(autouse=True)
def state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BOTMESH_STATE_DIR", str(tmp_path))


def test_only_the_icp_ledger_is_accepted_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BOTMESH_ACCEPTED_LEDGERS", raising=False)
    assert load_settings().accepted_ledgers == {ICP_LEDGER} == {"ryjl3-tyaaa-aaaaa-aaaba-cai"}


def test_accepted_ledgers_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOTMESH_ACCEPTED_LEDGERS", f" {ICP_LEDGER}, mxzaz-hqaaa-aaaar-qaada-cai,,")
    assert load_settings().accepted_ledgers == {ICP_LEDGER, "mxzaz-hqaaa-aaaar-qaada-cai"}


def test_envoy_runs_the_default_worker_count_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BOTMESH_ENVOY_CONCURRENCY", raising=False)
    assert load_settings().envoy_concurrency == DEFAULT_ENVOY_WORKERS
    monkeypatch.setenv("BOTMESH_ENVOY_CONCURRENCY", "3")
    assert load_settings().envoy_concurrency == 3
    monkeypatch.setenv("BOTMESH_ENVOY_CONCURRENCY", " Auto ")
    assert load_settings().envoy_concurrency == 0  # Envoy's own: one per hardware thread


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", "257"])
def test_a_bad_envoy_worker_count_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("BOTMESH_ENVOY_CONCURRENCY", value)
    with pytest.raises(ValueError, match="BOTMESH_ENVOY_CONCURRENCY"):
        load_settings()


def test_envoy_listens_on_every_interface_dual_stack_unless_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BOTMESH_ENVOY_ADDRESS", raising=False)
    assert load_settings().envoy_address == "::"
    monkeypatch.setenv("BOTMESH_ENVOY_ADDRESS", " 0.0.0.0 ")  # a host without IPv6
    assert load_settings().envoy_address == "0.0.0.0"


@pytest.mark.parametrize("value", ["", "localhost", "0.0.0.0:8080", "::g"])
def test_an_envoy_address_that_is_not_an_ip_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("BOTMESH_ENVOY_ADDRESS", value)
    with pytest.raises(ValueError, match="BOTMESH_ENVOY_ADDRESS"):
        load_settings()
