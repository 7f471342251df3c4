"""Money reads back exactly on SQLite (the `make run` default) as on MySQL: stored as
canonical decimal text, rounded to 18 places as DECIMAL(36, 18) is, and summed without
passing through floats."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mesh.db import Money, exact_sums, make_engine, money_text

metadata = sa.MetaData()
amounts = sa.Table(
    "amounts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("price", Money(), nullable=False),
    sa.Column("quantity", Money(), nullable=True),
)
TRICKY = [
    "59827.06",
    "0.1",
    "0.3",
    "0.000000000000000001",
    "999999999999999999.999999999999999999",
    "-999999999999999999.999999999999999999",
    "123456789.1234567891234567",
    "1E-7",
    "0",
    "-0.00000001",
    "61579.730000000003201421",
]


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'money.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


async def test_tricky_amounts_read_back_exactly_on_sqlite(sqlite: AsyncEngine) -> None:
    async with sqlite.begin() as conn:
        for i, text in enumerate(TRICKY):
            await conn.execute(amounts.insert().values(id=i, kind="x", price=Decimal(text)))
        back = dict((await conn.execute(sa.select(amounts.c.id, amounts.c.price))).all())
        stored = (await conn.execute(sa.text("SELECT typeof(price) FROM amounts"))).scalars()
        assert set(stored) == {"text"}
    for i, text in enumerate(TRICKY):
        assert back[i] == Decimal(text), text
        assert format(back[i], "f") == money_text(Decimal(text))


async def test_digits_beyond_18_places_round_half_up_as_mysql_does(sqlite: AsyncEngine) -> None:
    async with sqlite.begin() as conn:
        await conn.execute(
            amounts.insert().values(
                id=1, kind="x", price=Decimal("0.0000000000000000005"), quantity=None
            )
        )
        await conn.execute(
            amounts.insert().values(id=2, kind="x", price=Decimal("59827.0533333333333333333"))
        )
        back = dict((await conn.execute(sa.select(amounts.c.id, amounts.c.price))).all())
    assert back == {1: Decimal("1E-18"), 2: Decimal("59827.053333333333333333")}


async def test_equal_amounts_match_in_sql_however_they_were_spelled(sqlite: AsyncEngine) -> None:
    async with sqlite.begin() as conn:
        await conn.execute(amounts.insert().values(id=1, kind="x", price=Decimal("1.50")))
        found = (
            await conn.execute(sa.select(amounts.c.id).where(amounts.c.price == Decimal("1.5")))
        ).scalar_one()
    assert found == 1


async def test_sums_and_products_are_exact_on_sqlite(sqlite: AsyncEngine) -> None:
    rows = [("buy", "0.1", "3"), ("buy", "0.2", "3"), ("sell", "59827.05", "0.001")]
    rows += [("sell", "59827.07", "0.001")]
    async with sqlite.begin() as conn:
        for i, (kind, price, qty) in enumerate(rows):
            await conn.execute(
                amounts.insert().values(
                    id=i, kind=kind, price=Decimal(price), quantity=Decimal(qty)
                )
            )
        sums = await exact_sums(
            conn,
            (amounts.c.price, (amounts.c.price, amounts.c.quantity)),
            sa.true(),
            (amounts.c.kind,),
        )
        # What SQLite's own SUM makes of the same text: floats, with residue.
        naive = (
            await conn.execute(sa.text("SELECT SUM(price) FROM amounts WHERE kind = 'buy'"))
        ).scalar_one()
    assert sums == {
        ("buy",): (Decimal("0.3"), Decimal("0.9")),
        ("sell",): (Decimal("119654.12"), Decimal("119.65412")),
    }
    assert naive != 0.3  # 0.30000000000000004: why sums are done in Python there


async def test_sums_over_no_rows_are_absent(sqlite: AsyncEngine) -> None:
    async with sqlite.connect() as conn:
        assert await exact_sums(conn, (amounts.c.price,), sa.true()) == {}


def test_money_must_be_finite() -> None:
    with pytest.raises(ValueError, match="finite"):
        money_text(Decimal("NaN"))
