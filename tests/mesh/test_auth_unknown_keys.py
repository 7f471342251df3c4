"""Unknown API key ids are cheap to refuse: at most one database read per key id per
negative-cache window, whatever the flood, and a flood never evicts a valid key's cached row.

DB reads are counted twice, independently: by the statements the test's own engine sends to
MariaDB (an SQLAlchemy cursor event, below our code), and by the authenticator's own counter.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from botmesh.credential.v1 import marketplace_service_pb2  # noqa: F401 - registers descriptors

from mesh.access import access_for
from mesh.apikey_store import ApiKeyStore
from mesh.auth import Authenticator
from mesh.db import make_engine
from mesh.errors import Unauthenticated
from mesh.settings import Settings

GET_BOT = access_for("/botmesh.credential.v1.MarketplaceService/GetBot")


class KeyReads:
    """Counts SELECTs on api_keys that reach the database through one engine."""

    def __init__(self, engine: Any) -> None:
        self.count = 0
        sa.event.listen(engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        text = statement.lower()
        if text.lstrip().startswith("select") and "from api_keys" in text:
            self.count += 1


@pytest.fixture
async def counted(settings: Settings) -> AsyncIterator[tuple[Any, KeyReads]]:
    engine = make_engine(settings.database_url)
    reads = KeyReads(engine)
    yield engine, reads
    await engine.dispose()


def _auth(settings: Settings, engine: Any, **kw: Any) -> Authenticator:
    return Authenticator(
        ApiKeyStore(engine),
        pepper=settings.api_key_pepper,
        internal_token=settings.internal_token,
        cache_ttl_s=30,
        **kw,
    )


def _random_key() -> str:
    return f"bm_{secrets.token_hex(6)}_{secrets.token_urlsafe(32).replace('_', '-')}"


async def _refused(auth: Authenticator, key: str) -> None:
    assert GET_BOT is not None
    with pytest.raises(Unauthenticated) as caught:
        await auth.authenticate(GET_BOT, {"x-api-key": key})
    assert caught.value.reason == "API_KEY_INVALID"


async def test_each_unknown_key_id_costs_one_read_per_window(settings: Settings, counted) -> None:  # type: ignore[no-untyped-def]
    engine, reads = counted
    auth = _auth(settings, engine)
    flood = [_random_key() for _ in range(300)]
    # Every id three times: once alone, then twice at once (concurrent misses share a read).
    for key in flood:
        await _refused(auth, key)
    await asyncio.gather(*(_refused(auth, key) for key in flood + flood))
    assert reads.count == len(flood)
    assert auth.db_lookups == len(flood)


async def test_one_unknown_key_id_hammered_costs_one_read(settings: Settings, counted) -> None:  # type: ignore[no-untyped-def]
    engine, reads = counted
    auth = _auth(settings, engine)
    key = _random_key()
    await asyncio.gather(*(_refused(auth, key) for _ in range(500)))
    for _ in range(200):
        await _refused(auth, key)
    # A different secret on the same unknown id is the same id.
    await _refused(auth, key[:16] + secrets.token_urlsafe(32))
    assert reads.count == 1 and auth.db_lookups == 1


async def test_an_unknown_id_is_read_again_after_its_window(settings: Settings, counted) -> None:  # type: ignore[no-untyped-def]
    engine, reads = counted
    auth = _auth(settings, engine, negative_ttl_s=2.0)
    key = _random_key()
    await _refused(auth, key)
    await _refused(auth, key)
    assert reads.count == 1
    await asyncio.sleep(2.1)
    await _refused(auth, key)
    assert reads.count == 2


async def test_a_flood_never_evicts_a_valid_key(settings: Settings, counted, issue_key) -> None:  # type: ignore[no-untyped-def]
    engine, reads = counted
    # A small negative cache, so the flood overflows it many times over.
    auth = _auth(settings, engine, negative_limit=50)
    assert GET_BOT is not None
    key_id, key = await issue_key("read")
    await auth.authenticate(GET_BOT, {"x-api-key": key})
    assert reads.count == 1
    flood = [_random_key() for _ in range(1000)]
    await asyncio.gather(*(_refused(auth, k) for k in flood))
    assert reads.count == 1 + len(flood)
    assert auth.cached(key_id)
    before = reads.count
    caller = await auth.authenticate(GET_BOT, {"x-api-key": key})
    assert caller.key_id == key_id and reads.count == before
