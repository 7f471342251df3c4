"""Which failures mean "a dependency is down", and what the caller hears about them.

A Redis or database outage is transient and says nothing about the request: the caller gets
UNAVAILABLE with reason DEPENDENCY_UNAVAILABLE, metadata naming the dependency ("redis" or
"database") and RetryInfo, never INTERNAL. The interceptor asks this module once, for every
RPC, so no handler converts these errors itself. Nothing of the original exception reaches
the caller or the log line: SQLAlchemy's messages carry statements and their parameters.
"""

from __future__ import annotations

import pymysql
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import exc as sa_exc

from mesh.errors import Unavailable

REASON = "DEPENDENCY_UNAVAILABLE"
RETRY_AFTER_S = 1.0
# How far down a chain of `raise ... from` / implicit contexts to look for the cause.
_MAX_DEPTH = 5
_NAMES = {"redis": "Redis", "database": "the database"}


def dependency_of(exc: BaseException) -> str | None:
    """'redis' or 'database' when `exc` (or what caused it) is an outage of that
    dependency; None for anything else, bugs included."""
    seen: BaseException | None = exc
    for _ in range(_MAX_DEPTH):
        if seen is None:
            return None
        found = _direct(seen)
        if found is not None:
            return found
        seen = seen.__cause__ or seen.__context__
    return None


def _direct(exc: BaseException) -> str | None:
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return "redis"
    # Pool exhausted or a connection that could not be made, lost or was invalidated.
    if isinstance(exc, sa_exc.TimeoutError | sa_exc.DisconnectionError | sa_exc.OperationalError):
        return "database"
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return "database"
    if isinstance(exc, sa_exc.InterfaceError):  # aiomysql: "(0, 'Not connected')"
        return "database"
    if isinstance(exc, pymysql.err.OperationalError | pymysql.err.InterfaceError):
        return "database"
    return None


def as_unavailable(exc: BaseException) -> Unavailable | None:
    """The caller's view of a dependency outage, or None when `exc` is not one."""
    dependency = dependency_of(exc)
    if dependency is None:
        return None
    return Unavailable(
        f"{_NAMES[dependency]} is unavailable; retry shortly",
        reason=REASON,
        metadata={"dependency": dependency},
        retry_after_s=RETRY_AFTER_S,
    )
