"""The whole data model in one MetaData, for Alembic and tests. Importing it registers every
service's tables."""

from __future__ import annotations

import analysis_svc.tables
import credential_svc.tables
import mesh.tables
import trading_svc.tables
from mesh.db import metadata

TABLE_MODULES = (mesh.tables, credential_svc.tables, trading_svc.tables, analysis_svc.tables)

__all__ = ["TABLE_MODULES", "metadata"]
