"""The async SQLAlchemy engine: MySQL/MariaDB through aiomysql, SQLite through aiosqlite.

One MetaData holds every table (each service declares its own in `<service>/tables.py`), so
Alembic sees the whole model. Times are stored as naive UTC with microseconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
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


# DECIMAL(36, 18): 18 integer and 18 fractional digits, a sign and a point fit in 40.
MONEY_SCALE = Decimal(1).scaleb(-18)
MONEY_TEXT_LENGTH = 40


class MoneyType(TypeDecorator[Decimal]):
    """Exact decimals on every database: DECIMAL(36, 18) (wei-like precision) on
    MySQL/MariaDB, canonical decimal text on SQLite.

    SQLite has no decimal type: a NUMERIC column turns "59827.06" into a float, and reads it
    back as 59827.059999999996. So there the column is VARCHAR (text affinity, stored as
    written) and values are written rounded to 18 places as MySQL does, in one canonical
    spelling (no exponent, no trailing zeros) so equal amounts compare equal in SQL. SQL
    arithmetic on SQLite would go through floats again: sum money with `exact_sums`.
    """

    impl = sa.Numeric(36, 18, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(MONEY_TEXT_LENGTH))
        return dialect.type_descriptor(sa.Numeric(36, 18, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        return money_text(Decimal(value))

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, float):  # a REAL written before money was text
            return Decimal(repr(value))
        return value if isinstance(value, Decimal) else Decimal(str(value))


def money(value: Decimal) -> Decimal:
    """`value` rounded half-up to the 18 places a money column keeps."""
    with localcontext() as ctx:
        ctx.prec = 80  # wide enough for 36 digits before rounding
        return value.quantize(MONEY_SCALE, rounding=ROUND_HALF_UP)


def money_text(value: Decimal) -> str:
    """The canonical text of an amount as stored on SQLite: rounded half-up to 18 places
    (as MySQL's DECIMAL(36, 18) stores it), without exponent or trailing zeros."""
    if not value.is_finite():
        raise ValueError("money must be a finite decimal")
    text = format(money(value), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def Money() -> MoneyType:
    return MoneyType()


# A term of a sum: one money column, or the product of several (price x quantity).
Term = sa.Column[Any] | tuple[sa.Column[Any], ...]


async def exact_sums(
    conn: AsyncConnection,
    terms: Sequence[Term],
    where: Any,
    group_by: Sequence[sa.Column[Any]] = (),
) -> dict[tuple[Any, ...], tuple[Decimal, ...]]:
    """SUM of each term per group, exact on every database: in SQL where the database adds
    decimals exactly (MySQL DECIMAL), row by row in Python on SQLite, whose SQL arithmetic
    would turn the text back into floats. Groups without rows are absent."""
    factors = [t if isinstance(t, tuple) else (t,) for t in terms]
    keys = list(group_by)
    if conn.dialect.name != "sqlite":
        products = [_product(f) for f in factors]
        rows = await conn.execute(
            sa.select(*keys, *(sa.func.sum(p) for p in products)).where(where).group_by(*keys)
        )
        return {tuple(r[: len(keys)]): tuple(Decimal(v or 0) for v in r[len(keys) :]) for r in rows}
    columns = list(dict.fromkeys(c for f in factors for c in f))
    sums: dict[tuple[Any, ...], list[Decimal]] = {}
    for row in await conn.execute(sa.select(*keys, *columns).where(where)):
        values = dict(zip(columns, row[len(keys) :], strict=True))
        acc = sums.setdefault(tuple(row[: len(keys)]), [Decimal(0)] * len(factors))
        for i, term in enumerate(factors):
            acc[i] += math.prod((values[c] or Decimal(0) for c in term), start=Decimal(1))
    return {k: tuple(v) for k, v in sums.items()}


def _product(columns: tuple[sa.Column[Any], ...]) -> Any:
    expr: Any = columns[0]
    for column in columns[1:]:
        expr = expr * column
    return expr


def serial_id(name: str = "id") -> sa.Column[int]:
    """An autoincrementing BIGINT primary key (INTEGER on SQLite, whose rowid alias only an
    INTEGER PRIMARY KEY is)."""
    return sa.Column(
        name,
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    )


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
