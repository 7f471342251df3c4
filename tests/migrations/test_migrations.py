"""Migrations go up and down on MariaDB and match the model exactly."""

from __future__ import annotations

import pymysql

from tests.support import MARIADB, alembic, mariadb_url


def tables(database: str) -> set[str]:
    conn = pymysql.connect(**MARIADB, database=database)  # type: ignore[arg-type]
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW TABLES")
            return {row[0] for row in cur.fetchall()} - {"alembic_version"}
    finally:
        conn.close()


EXPECTED = {
    "users",
    "api_keys",
    "exchange_credentials",
    "bots",
    "bot_listings",
    "subscriptions",
    "payments",
    "orders",
    "trades",
    "performance_logs",
    "subscription_projection",
    "bot_decisions",
    "bot_runtime",
    "stream_cursors",
    "candle_chunks",
    "decisions",
    "backtests",
    "audit_head",
    "audit_log",
    "idempotency_records",
    "change_outbox",
}


def test_upgrade_check_downgrade_upgrade_on_mariadb(scratch_database) -> None:  # type: ignore[no-untyped-def]
    database = scratch_database()
    url = mariadb_url(database)
    up = alembic(url, "upgrade", "head")
    assert up.returncode == 0, up.stderr
    assert tables(database) == EXPECTED
    check = alembic(url, "check")
    assert check.returncode == 0, check.stdout + check.stderr
    down = alembic(url, "downgrade", "base")
    assert down.returncode == 0, down.stderr
    assert tables(database) == set()
    again = alembic(url, "upgrade", "head")
    assert again.returncode == 0, again.stderr


def test_upgrade_check_downgrade_upgrade_on_sqlite(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite+aiosqlite:///{tmp_path / 'botmesh.db'}"
    up = alembic(url, "upgrade", "head")
    assert up.returncode == 0, up.stderr
    check = alembic(url, "check")
    assert check.returncode == 0, check.stdout + check.stderr
    down = alembic(url, "downgrade", "base")
    assert down.returncode == 0, down.stderr
    again = alembic(url, "upgrade", "head")
    assert again.returncode == 0, again.stderr
