"""The import boundaries hold on the real tree, and each rule fails on a wrong import.

The checker reads source text, so the wrong imports are written into small trees under
tmp_path (one real package copied, or a few synthetic modules) and never executed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tools.boundaries import check

ROOT = Path(__file__).resolve().parents[2]


def test_the_real_tree_keeps_its_boundaries() -> None:
    violations = check(ROOT)
    assert not violations, "imports that break the boundaries:\n" + "\n".join(
        str(v) for v in violations
    )


def tree(root: Path, files: dict[str, str]) -> Path:
    """Writes modules (package __init__ files included) and returns the root."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(root).parents:
            if str(parent) != ".":
                (root / parent / "__init__.py").touch()
        path.write_text(text)
    return root


# A tree in the intended shape: every allowed direction once.
GOOD = {
    "mesh/errors.py": "",
    "mesh/db.py": "from mesh import errors\n",
    "quant/metrics.py": "import numpy\n",
    "exchanges/clients.py": "import asyncio\nimport ccxt.pro\nfrom mesh.errors import *\n",
    "gateway/envoy.py": "from mesh import db\n",
    "cli/main.py": "from mesh import db\nfrom gateway import envoy\n",
    "trading_svc/__main__.py": "from trading_svc.server import main\n",
    "trading_svc/server.py": (
        "from trading_svc.servicers import trading\nfrom trading_svc.orders import service\n"
        "from trading_svc.exchange import calls\n"
    ),
    "trading_svc/servicers/trading.py": (
        "from trading_svc.servicers import convert\nfrom trading_svc.orders.service import S\n"
    ),
    "trading_svc/servicers/convert.py": "from trading_svc.orders import model\n",
    "trading_svc/orders/service.py": (
        "from trading_svc.orders import store, model, execution\nfrom trading_svc.exchange import calls\n"
    ),
    "trading_svc/orders/execution.py": "from trading_svc.exchange.calls import place\n",
    "trading_svc/orders/store.py": "import sqlalchemy\nfrom trading_svc.orders.model import Order\n",
    "trading_svc/orders/model.py": "from mesh.errors import DomainError\n",
    "trading_svc/exchange/calls.py": "import ccxt\nfrom exchanges import clients\n",
    "analysis_svc/domain/indicators.py": "import numpy\nfrom analysis_svc.domain import signal\n",
    "analysis_svc/domain/signal.py": "from mesh.errors import InvalidArgument\n",
    "analysis_svc/analyze/service.py": "from analysis_svc.domain.indicators import rsi\n",
}


def test_a_tree_in_the_intended_shape_passes(tmp_path: Path) -> None:
    assert check(tree(tmp_path, GOOD)) == []


@pytest.mark.parametrize(
    ("module", "bad_import", "rule", "imported"),
    [
        (
            "trading_svc/orders/model.py",
            "from credential_svc.tables import users",
            "service-to-service",
            "credential_svc.tables",
        ),
        (
            "quant/metrics.py",
            "import trading_svc.orders.model",
            "kit-to-service",
            "trading_svc.orders.model",
        ),
        (
            "exchanges/clients.py",
            "import exchange_sim.ccxt_compat as compat",
            "production-to-test-code",
            "exchange_sim.ccxt_compat",
        ),
        (
            "trading_svc/servicers/convert.py",
            "from trading_svc import server",
            "imports-server",
            "trading_svc.server",
        ),
        (
            "trading_svc/orders/service.py",
            "from trading_svc.servicers.convert import order_pb",
            "imports-servicers",
            "trading_svc.servicers.convert",
        ),
        (
            "trading_svc/orders/store.py",
            "from trading_svc.orders.execution import Executor",
            "store-to-use-case",
            "trading_svc.orders.execution",
        ),
        (
            "trading_svc/exchange/calls.py",
            "from trading_svc.orders.model import Order",
            "adapter-to-feature",
            "trading_svc.orders.model",
        ),
        (
            "analysis_svc/domain/signal.py",
            "from analysis_svc.analyze import service",
            "domain-impurity",
            "analysis_svc.analyze.service",
        ),
        ("analysis_svc/domain/signal.py", "import redis.asyncio", "domain-impurity", "redis"),
        ("mesh/db.py", "from exchanges import clients", "kit-to-kit", "exchanges.clients"),
        ("quant/metrics.py", "import mesh.errors", "kit-to-kit", "mesh.errors"),
        ("exchanges/clients.py", "import redis.asyncio", "kit-to-kit", "redis"),
    ],
)
def test_each_rule_fails_on_a_wrong_import(
    tmp_path: Path, module: str, bad_import: str, rule: str, imported: str
) -> None:
    files = dict(GOOD)
    files[module] += bad_import + "\n"
    importer = module.removesuffix(".py").replace("/", ".")
    assert [v.edge for v in check(tree(tmp_path, files))] == [(rule, importer, imported)]


def test_imports_count_wherever_they_are_written(tmp_path: Path) -> None:
    """In a function, under TYPE_CHECKING, relative: each couples the modules all the same."""
    files = dict(GOOD)
    files["mesh/db.py"] += "def f():\n    import analysis_svc.analyze.service\n"
    files["mesh/errors.py"] += "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
    files["mesh/errors.py"] += "    from credential_svc import tables\n"
    files["trading_svc/orders/store.py"] += "from . import service\n"
    files["credential_svc/tables.py"] = ""
    assert {v.edge for v in check(tree(tmp_path, files))} == {
        ("kit-to-service", "mesh.db", "analysis_svc.analyze.service"),
        ("kit-to-service", "mesh.errors", "credential_svc.tables"),
        ("store-to-use-case", "trading_svc.orders.store", "trading_svc.orders.service"),
    }


def test_a_real_package_with_one_wrong_import_fails(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "mesh", tmp_path / "mesh", ignore=shutil.ignore_patterns("__pycache__"))
    assert check(tmp_path) == []
    with (tmp_path / "mesh" / "pagination.py").open("a") as module:
        module.write("\nfrom trading_svc.orders.store import OrderStore  # the wrong one\n")
    [violation] = check(tmp_path)
    assert str(violation).startswith("mesh/pagination.py:")
    assert violation.edge == ("kit-to-service", "mesh.pagination", "trading_svc.orders.store")
