"""Which failures are dependency outages: real errors from an unreachable Redis and an
unreachable database are; bugs and bad commands are not, and stay INTERNAL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from redis.exceptions import ResponseError
from sqlalchemy.exc import IntegrityError

from cli.launcher import free_port
from mesh.db import make_engine
from mesh.dependencies import REASON, as_unavailable, dependency_of
from mesh.redis import make_redis
from mesh.settings import Settings


async def test_an_unreachable_redis_is_a_redis_outage_retryable_in_a_second() -> None:
    redis = make_redis(f"redis://127.0.0.1:{free_port()}/0")
    try:
        with pytest.raises(Exception) as caught:
            await redis.get("anything")
    finally:
        await redis.aclose()
    assert dependency_of(caught.value) == "redis"
    outage = as_unavailable(caught.value)
    assert outage is not None
    assert (outage.code, outage.reason, outage.metadata) == (
        "UNAVAILABLE",
        REASON,
        {"dependency": "redis"},
    )
    assert outage.retry_after_s == 1.0
    assert "127.0.0.1" not in outage.message  # nothing of the original error


async def test_an_unreachable_database_is_a_database_outage() -> None:
    engine = make_engine(f"mysql+aiomysql://root@127.0.0.1:{free_port()}/botmesh")
    try:
        with pytest.raises(Exception) as caught:
            async with engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
    finally:
        await engine.dispose()
    assert dependency_of(caught.value) == "database"
    outage = as_unavailable(caught.value)
    assert outage is not None and outage.metadata == {"dependency": "database"}
    assert "SELECT" not in outage.message


async def test_an_outage_behind_another_error_is_still_an_outage() -> None:
    redis = make_redis(f"redis://127.0.0.1:{free_port()}/0")
    try:
        try:
            await redis.get("anything")
        except Exception as exc:
            wrapped = RuntimeError("while caching")
            wrapped.__cause__ = exc
    finally:
        await redis.aclose()
    assert dependency_of(wrapped) == "redis"


async def test_bugs_and_refused_commands_are_not_outages(settings: Settings) -> None:
    redis = make_redis(settings.redis_url)
    try:
        with pytest.raises(ResponseError) as refused:
            await redis.execute_command("NO-SUCH-COMMAND")
    finally:
        await redis.aclose()
    duplicate = IntegrityError("INSERT ...", {}, Exception("Duplicate entry"))
    for error in (refused.value, duplicate, ValueError("bug"), KeyError("bug")):
        assert dependency_of(error) is None
        assert as_unavailable(error) is None
