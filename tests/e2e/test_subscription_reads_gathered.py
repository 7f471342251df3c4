"""Callers' subscription reads that reach trading_svc together go to credential_svc together
(BatchGetOwnedSubscriptions, mesh/gather.py), and each is still scoped to its own principal:
in one burst through Envoy, the owner reads its subscription, a stranger asking for the same
one gets NOT_FOUND as if it did not exist, and the stranger's own reads succeed."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from cli.launcher import Mesh
from tests.e2e.metrics_support import scrape
from tests.e2e.subscription_support import make_renter, subscribe

BURST = 60  # reads per (caller, subscription, route)


async def calls_answered(mesh: Mesh) -> float:
    """BatchGetOwnedSubscriptions calls credential_svc has answered, by its own metrics."""
    found = await scrape(mesh.metrics_urls["credential_svc"])
    return found.value("botmesh_rpc_total", method="BatchGetOwnedSubscriptions", code="OK")


async def test_a_burst_of_reads_is_scoped_to_each_callers_principal(
    mesh: Mesh, rest: httpx.AsyncClient, keys: dict[str, str], exchange_sim: Any
) -> None:
    owner = await make_renter(rest, keys, exchange_sim)
    stranger = await make_renter(rest, keys, exchange_sim)
    mine = (await subscribe(rest, owner))["subscription_id"]
    theirs = (await subscribe(rest, stranger))["subscription_id"]

    reads = [
        (who, sub, route)
        for who, sub in ((owner, mine), (stranger, mine), (stranger, theirs))
        for route in ("status", "orders")
        for _ in range(BURST)
    ]
    before = await calls_answered(mesh)
    answers = await asyncio.gather(
        *(
            rest.get(f"/v1/subscriptions/{sub}/{route}", headers=who.headers)
            for who, sub, route in reads
        )
    )
    outcome: dict[tuple[str, str], set[int]] = {}
    for (who, sub, _), answer in zip(reads, answers, strict=True):
        outcome.setdefault((who.principal, sub), set()).add(answer.status_code)
        assert answer.status_code in (200, 404), answer.text
        if answer.status_code == 404:
            assert answer.json()["details"][0]["reason"] == "SUBSCRIPTION_NOT_FOUND"
    assert outcome == {
        (owner.principal, mine): {200},
        (stranger.principal, mine): {404},
        (stranger.principal, theirs): {200},
    }
    # Gathered: fewer calls than reads (each read asks once; a burst shares calls).
    calls = await calls_answered(mesh) - before
    assert 1 <= calls < len(reads), calls
    print(f"\n{len(reads)} reads in one burst: {calls:.0f} BatchGetOwnedSubscriptions calls")
