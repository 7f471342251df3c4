"""The async SQLAlchemy engine: MySQL/MariaDB through aiomysql, SQLite through aiosqlite.

One MetaData holds every table (each service declares its own in `<service>/tables.py`), so
Alembic sees the whole model. Times are stored as naive UTC with microseconds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.types import TypeDecorator

from mesh import mysql_watchdog

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in Python, naive UTC DATETIME(6) in the database."""

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "mysql":
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class FixedBytes(TypeDecorator[bytes]):
    """Short binary values (hashes, nonces): VARBINARY(n) on MySQL, BLOB on SQLite."""

    impl = sa.LargeBinary
    cache_ok = True

    def __init__(self, length: int) -> None:
        super().__init__()
        self.length = length

    def __repr__(self) -> str:  # rendered into migrations
        return f"FixedBytes({self.length})"

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "mysql":
            return dialect.type_descriptor(sa.VARBINARY(self.length))
        return dialect.type_descriptor(sa.LargeBinary())


class MoneyType(TypeDecorator[Decimal]):
    """Exact decimals: DECIMAL(36, 18) (wei-like precision) on MySQL/MariaDB.

    SQLite, the embedded default, has no decimal type and keeps REAL; values read back are
    turned into the shortest decimal that round-trips the float ("61579.73", not
    "61579.730000000003201421"), so `make run` shows prices as they were written.
    """

    impl = sa.Numeric(36, 18, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Numeric(36, 18, asdecimal=False))
        return dialect.type_descriptor(sa.Numeric(36, 18, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is not None and dialect.name == "sqlite":
            return float(value)
        return value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, float):
            return Decimal(repr(value))
        return value if isinstance(value, Decimal) else Decimal(str(value))


def Money() -> MoneyType:
    return MoneyType()


def utcnow() -> datetime:
    return datetime.now(UTC)


# A MariaDB that is down refuses or drops connections at once; one that is unreachable or
# hung costs at most CONNECT_TIMEOUT_S to connect, READ_TIMEOUT_S to answer (the watchdog:
# aiomysql has no read timeout of its own) and POOL_TIMEOUT_S to wait for a pooled
# connection; then the call fails and the interceptor answers UNAVAILABLE.
POOL_TIMEOUT_S = 5.0


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """Pooled connections are pinged on checkout (pool_pre_ping), so after a database
    restart the first request on each gets a fresh connection instead of an error."""
    if url.startswith("sqlite"):
        return create_async_engine(url, connect_args={"timeout": 30})
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=3600,
        pool_timeout=POOL_TIMEOUT_S,
        connect_args={
            "connect_timeout": mysql_watchdog.CONNECT_TIMEOUT_S,
            "async_creator_fn": mysql_watchdog.connect,
        },
        isolation_level="READ COMMITTED",
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False)


def sync_url(url: str) -> str:
    """The synchronous driver URL for Alembic: pymysql and pysqlite."""
    return url.replace("+aiomysql", "+pymysql").replace("+aiosqlite", "")


def keyset_after(table: sa.Table, id_column: str, after: tuple[datetime, str] | None) -> Any:
    """The page condition `(create_time, id) < after` for newest-first keyset pagination,
    in the expanded form every dialect plans well."""
    if after is None:
        return sa.true()
    when, row_id = after
    created, ident = table.c.create_time, table.c[id_column]
    return sa.or_(created < when, sa.and_(created == when, ident < row_id))
