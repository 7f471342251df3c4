"""exchanges/ is the one place that knows exchanges, and it stands alone: it imports ccxt,
the standard library and mesh only, never a service and never the test venue."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "exchanges"
ALLOWED = {"ccxt", "mesh", "exchanges", "__future__"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_exchanges_imports_only_ccxt_mesh_and_the_standard_library() -> None:
    files = sorted(PACKAGE.glob("*.py"))
    assert files
    for path in files:
        foreign = {
            name
            for name in _imports(path)
            if name not in ALLOWED and name not in sys.stdlib_module_names
        }
        assert not foreign, f"{path.name} imports {sorted(foreign)}"
