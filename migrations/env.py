"""Alembic environment: the URL comes from BOTMESH_DATABASE_URL (or the -x url=... option),
converted to its synchronous driver.

The whole data model is gathered here, and only here: migrations are the deploy-time tool that
may know every service's tables, while `mesh/` (the kit every service imports) imports no
service. Importing a tables module registers its tables on the one shared MetaData."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

import analysis_svc.tables
import credential_svc.tables
import mesh.tables
import trading_svc.tables
from mesh.db import metadata, sync_url
from mesh.settings import load_settings

TABLE_MODULES = (mesh.tables, credential_svc.tables, trading_svc.tables, analysis_svc.tables)

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    override = context.get_x_argument(as_dictionary=True).get("url")
    return sync_url(override or config.attributes.get("url") or load_settings().database_url)


def run_migrations_offline() -> None:
    context.configure(
        url=_url(), target_metadata=metadata, literal_binds=True, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
