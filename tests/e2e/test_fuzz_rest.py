"""No input makes a 500: generated requests for every public RPC, through Envoy as REST.

Requests are built from the contract (tests/e2e/fuzz_cases.py): each RPC's REST binding,
its fields with their rules, real ids of a fuzzing principal, then boundary and hostile
values for a few fields (strings, decimals, integers past their range, unknown enums,
oversize lists and maps, odd path ids, junk bodies). Authenticated with real keys, so the
requests reach validation and the handlers. Seeded: BOTMESH_FUZZ_SEED replays a run.
"""

from __future__ import annotations

import random
import time

import httpx
import pytest

from tests.e2e.fuzz_cases import public_rpcs
from tests.e2e.fuzz_support import Auth, Tally, send_rest
from tests.e2e.fuzz_support import run_cases as run
from tests.e2e.fuzz_world import SEED_ENV, build_world, fuzz_cases, fuzz_seed
from tests.e2e.subscription_support import make_renter, subscribe

CASES = 2000
CONCURRENCY = 16


def report(kind: str, seed: int, tally: Tally, seconds: float) -> str:
    shown = "\n".join(tally.failures[:15])
    return (
        f"{kind} fuzz: {tally.cases} cases in {seconds:.1f} s, "
        f"{tally.server_errors()} server errors, {len(tally.failures)} failures; "
        f"replay with {SEED_ENV}={seed}\nanswers: {dict(sorted(tally.answers.items()))}\n"
        f"RPCs never answered OK: {sorted(set(tally.per_rpc) - set(+tally.ok_per_rpc))}\n{shown}"
    )


async def test_every_public_rpc_over_rest_answers_without_a_server_error(
    rest: httpx.AsyncClient, keys: dict[str, str], exchange_sim: object
) -> None:
    seed = fuzz_seed()
    world, principal = await build_world(rest, keys, exchange_sim)
    auth = Auth(keys, principal)
    rpcs = [r for r in public_rpcs() if r.verb]
    assert len(rpcs) >= 30, "every public RPC has a REST binding"

    async def send(rpc, rng, tally):  # type: ignore[no-untyped-def]
        await send_rest(rest, rpc, world, auth, rng, tally)

    start = time.perf_counter()
    tally = await run(fuzz_cases(CASES), CONCURRENCY, rpcs, random.Random(seed), send)
    summary = report("REST", seed, tally, time.perf_counter() - start)
    print(summary)
    assert tally.cases == fuzz_cases(CASES)
    assert set(tally.per_rpc) == {r.name for r in rpcs}
    assert not tally.failures, summary


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/orders", {"quantity": "999999999999999999999999999999"}, "quantity"),
        ("/orders", {"quantity": "0.001", "type": "ORDER_TYPE_LIMIT", "price": "1e999"}, "price"),
        ("/orders", {"quantity": "0." + "0" * 18 + "1"}, "quantity"),
        ("/events:stream?after=99999999999999999999999", None, "after"),
        ("/events:stream?after=18446744073709551616-0", None, "after"),
        ("/orders?page_token=" + "A" * 600, None, "page_token"),
        ("/orders?page_token=WyI5OTk5LTEyLTMxVDIzOjU5OjU5LTIzOjU5IiwieCJd", None, "page_token"),
    ],
)
async def test_the_reproduced_500s_are_400s_naming_the_field(
    rest: httpx.AsyncClient,
    keys: dict[str, str],
    exchange_sim: object,
    path: str,
    body: dict[str, str] | None,
    field: str,
) -> None:
    renter = await make_renter(rest, keys, exchange_sim)
    sub = await subscribe(rest, renter)
    url = f"/v1/subscriptions/{sub['subscription_id']}{path}"
    if body is None:
        resp = await rest.get(url, headers=renter.headers)
    else:
        order = {"side": "ORDER_SIDE_BUY", "type": "ORDER_TYPE_MARKET", **body}
        resp = await rest.post(url, json=order, headers=renter.headers)
    assert resp.status_code == 400, resp.text
    assert resp.json()["details"][0]["metadata"]["field"] == field
