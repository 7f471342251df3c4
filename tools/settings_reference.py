"""The README's configuration reference, generated from the code that reads each setting, so it
cannot go stale: `python tools/settings_reference.py` rewrites the table between
`<!-- settings:begin -->` and `<!-- settings:end -->`; `--check` exits 1 when it differs.

Rules it keeps:
- A setting is every environment variable named BOTMESH_* that production code reads: through
  an `_env("NAME", default)` helper (mesh/settings.py, trading_svc/config.py) or a `.get(...)`
  of the environment (`os.environ.get("BOTMESH_X")`, a module constant holding the name, an
  argparse default). Names built in a helper (`_env(f"{name}_PORT", ...)`) are expanded at
  every call of the helper with constant arguments.
- What a setting does is, in order: the `#` comment directly above the dataclass field its
  loader fills (Settings, TradingConfig), directly or through a variable; an argparse
  argument's help; the comment above the
  module constant naming it; the comment above the line that reads it. For a name a helper
  builds, the call site's text comes first, then the helper's line. A setting without any is
  an error, as is a BOTMESH_ name in production code that no read accounts for.
- The default is the literal the code falls back to (constants and `str(...)` resolved,
  imported constants followed); an expression shows as code; no fallback shows as "(none)".
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"
# Production code: what runs in a deployment (exchange_sim too: `botmesh up` runs it).
PRODUCTION = (
    "mesh", "cli", "gateway", "exchanges", "quant", "credential_svc", "trading_svc",
    "analysis_svc", "migrations", "exchange_sim",
)  # fmt: skip
SOURCE_SUFFIXES = (".py", ".lua", ".yaml", ".yml", ".sh")
NAME = re.compile(r"\bBOTMESH_[A-Z][A-Z0-9_]*\b")
FIRST = ("mesh/settings.py", "trading_svc/config.py")


@dataclass(frozen=True)
class Setting:
    name: str
    default: str | None
    description: str
    source: str


class SettingsError(ValueError):
    """The code reads a setting the reference cannot describe."""


_UNKNOWN = object()


class Module:
    """One parsed source file: its tree, lines, parents, constants and dataclass fields."""

    def __init__(self, path: Path, root: Path) -> None:
        self.path, self.root = path, root
        self.rel = path.relative_to(root).as_posix()
        self.lines = path.read_text().splitlines()
        self.tree = ast.parse("\n".join(self.lines))
        self.parents: dict[ast.AST, ast.AST] = {
            child: node for node in ast.walk(self.tree) for child in ast.iter_child_nodes(node)
        }
        self.constants: dict[str, ast.expr] = {}
        self.constant_lines: dict[str, int] = {}
        self.imports: dict[str, str] = {}
        self.fields: dict[str, int] = {}
        for node in self.tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name):
                    self.constants[target.id] = node.value
                    self.constant_lines[target.id] = node.lineno
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = node.module
            elif isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                        self.fields[item.target.id] = item.lineno

    def comment_above(self, lineno: int) -> str:
        """The `#` comment block directly above line `lineno` (1-based), as one line."""
        found: list[str] = []
        index = lineno - 2
        while index >= 0 and self.lines[index].strip().startswith("#"):
            found.insert(0, self.lines[index].strip().lstrip("#").strip())
            index -= 1
        return " ".join(found)

    def value(self, expr: ast.expr | None, bindings: dict[str, Any], depth: int = 0) -> Any:
        """A constant expression's value, following constants and imports; _UNKNOWN if not."""
        if expr is None or depth > 8:
            return _UNKNOWN
        if isinstance(expr, ast.Constant):
            return expr.value
        if isinstance(expr, ast.Name):
            if expr.id in bindings:
                return bindings[expr.id]
            if expr.id in self.constants:
                return self.value(self.constants[expr.id], {}, depth + 1)
            if expr.id in self.imports:
                other = self.root / (self.imports[expr.id].replace(".", "/") + ".py")
                if other.exists():
                    module = Module(other, self.root)
                    return module.value(ast.Name(id=expr.id), {}, depth + 1)
            return _UNKNOWN
        if isinstance(expr, ast.JoinedStr):
            parts = [
                self.value(v.value if isinstance(v, ast.FormattedValue) else v, bindings, depth)
                for v in expr.values
            ]
            return _UNKNOWN if _UNKNOWN in parts else "".join(str(p) for p in parts)
        if (
            isinstance(expr, ast.Call)
            and isinstance(expr.func, ast.Name)
            and expr.func.id in ("str", "int", "float")
            and len(expr.args) == 1
        ):
            inner = self.value(expr.args[0], bindings, depth)
            return _UNKNOWN if inner is _UNKNOWN else str(inner)
        return _UNKNOWN

    def ancestors(self, node: ast.AST) -> list[ast.AST]:
        found = []
        while node in self.parents:
            node = self.parents[node]
            found.append(node)
        return found


def _render_default(module: Module, expr: ast.expr | None, bindings: dict[str, Any]) -> str | None:
    value = module.value(expr, bindings)
    if expr is None or (value is None):
        return None
    if value is not _UNKNOWN:
        return str(value)
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "str":
        expr = expr.args[0]
    if isinstance(expr, ast.JoinedStr):
        return "".join(
            f"{{{ast.unparse(v.value)}}}" if isinstance(v, ast.FormattedValue) else str(v.value)  # type: ignore[attr-defined]
            for v in expr.values
        )
    return ast.unparse(expr)


def _describe(module: Module, call: ast.Call, name_expr: ast.expr) -> str:
    """What the code says about the setting a call reads (see the module's rules)."""
    ancestors = module.ancestors(call)
    for node in ancestors:
        if isinstance(node, ast.keyword) and node.arg in module.fields:
            text = module.comment_above(module.fields[node.arg])
            if text:
                return text
            break
    statement = next((n for n in ancestors if isinstance(n, ast.stmt)), None)
    if isinstance(statement, ast.Assign) and isinstance(statement.targets[0], ast.Name):
        variable = statement.targets[0].id  # `pepper = ...`, later `api_key_pepper=pepper`
        for node in ast.walk(module.tree):
            if (
                isinstance(node, ast.keyword)
                and isinstance(node.value, ast.Name)
                and node.value.id == variable
                and node.arg in module.fields
            ):
                text = module.comment_above(module.fields[node.arg])
                if text:
                    return text
    for node in ancestors:
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "add_argument"
        ):
            for kw in node.keywords:
                if kw.arg == "help" and isinstance(kw.value, ast.Constant):
                    return str(kw.value.value)
    if isinstance(name_expr, ast.Name) and name_expr.id in module.constant_lines:
        text = module.comment_above(module.constant_lines[name_expr.id])
        if text:
            return text
    text = module.comment_above(call.lineno)
    if text:
        return text
    return module.comment_above(statement.lineno) if statement else ""


def _reads(module: Module) -> list[tuple[ast.Call, ast.expr, ast.expr | None, str]]:
    """Every call that reads an environment variable: (call, name, default, prefix)."""
    found = []
    for node in ast.walk(module.tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        default = node.args[1] if len(node.args) > 1 else None
        if isinstance(func, ast.Name) and func.id == "_env":
            found.append((node, node.args[0], default, "BOTMESH_"))
        elif isinstance(func, ast.Attribute) and func.attr in ("get", "getenv"):
            found.append((node, node.args[0], default, ""))
    return found


def _call_sites(module: Module, function: ast.FunctionDef) -> list[tuple[ast.Call, dict[str, Any]]]:
    params = [a.arg for a in function.args.args]
    sites = []
    for node in ast.walk(module.tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == function.name
        ):
            values = [module.value(a, {}) for a in node.args]
            if _UNKNOWN not in values:
                sites.append((node, dict(zip(params, values, strict=False))))
    return sites


def settings_of(module: Module) -> list[Setting]:
    """The settings a module reads, in the order of its source lines."""
    found: list[tuple[tuple[int, int], Setting]] = []
    for call, name_expr, default_expr, prefix in _reads(module):
        name = module.value(name_expr, {})
        if name is _UNKNOWN and not isinstance(name_expr, ast.JoinedStr):
            continue  # not a name built from a helper's parameters: not a setting
        if name is not _UNKNOWN and not NAME.fullmatch(f"{prefix}{name}"):
            continue
        text = _describe(module, call, name_expr)
        uses: list[tuple[Any, dict[str, Any], str, int]]
        if name is not _UNKNOWN:
            uses = [(name, {}, text, call.lineno)]
        else:
            function = next(
                (n for n in module.ancestors(call) if isinstance(n, ast.FunctionDef)), None
            )
            sites = _call_sites(module, function) if function else []
            uses = [
                (
                    module.value(name_expr, b),
                    b,
                    f"{_describe(module, site, site)} {text}".strip(),
                    site.lineno,
                )
                for site, b in sites
            ]
        for value, bindings, description, line in uses:
            full = f"{prefix}{value}"
            if isinstance(value, str) and NAME.fullmatch(full):
                default = _render_default(module, default_expr, bindings)
                setting = Setting(full, default, description, module.rel)
                found.append(((line, call.lineno), setting))
    return [setting for _, setting in sorted(found, key=lambda item: item[0])]


def _production_files(root: Path, suffixes: tuple[str, ...]) -> list[Path]:
    files = [
        path
        for top in PRODUCTION
        if (root / top).is_dir()
        for path in sorted((root / top).rglob("*"))
        if path.suffix in suffixes and "__pycache__" not in path.parts
    ]
    first = [root / rel for rel in FIRST if (root / rel) in files]
    return first + [path for path in files if path not in first]


def collect(root: Path = ROOT) -> list[Setting]:
    """Every setting, each once (its first read: mesh/settings.py, then trading_svc's, then
    by path), with what it does; SettingsError for one the code does not describe."""
    merged: dict[str, Setting] = {}
    for path in _production_files(root, (".py",)):
        if "BOTMESH_" not in path.read_text():
            continue  # reads nothing of ours (an `_env` helper names its prefix)
        for setting in settings_of(Module(path, root)):
            known = merged.get(setting.name)
            if known is None or (not known.description and setting.description):
                merged[setting.name] = setting
    undescribed = sorted(s.name for s in merged.values() if not s.description)
    if undescribed:
        raise SettingsError(f"settings without a comment saying what they do: {undescribed}")
    return list(merged.values())


def names_in_code(root: Path = ROOT) -> dict[str, str]:
    """Every BOTMESH_ name written anywhere in production source, with a file naming it."""
    names: dict[str, str] = {}
    for path in _production_files(root, SOURCE_SUFFIXES):
        for name in NAME.findall(path.read_text()):
            names.setdefault(name, path.relative_to(root).as_posix())
    return names


def table(settings: list[Setting]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    rows = ["| Setting | Default | What it does |", "|---|---|---|"]
    for s in settings:
        default = "(none)" if s.default is None else f"`{s.default}`" if s.default else '`""`'
        rows.append(f"| `{s.name}` | {cell(default)} | {cell(s.description)} |")
    return "\n".join(rows)


def block(root: Path = ROOT) -> str:
    """The generated block, markers included; SettingsError when a name is unaccounted for."""
    settings = collect(root)
    missing = {n: f for n, f in names_in_code(root).items() if n not in {s.name for s in settings}}
    if missing:
        raise SettingsError(f"BOTMESH_ names in code that no read accounts for: {missing}")
    return f"{BEGIN}\n{table(settings)}\n{END}"


def current_block(readme: str) -> str:
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        raise SettingsError(f"README.md has no {BEGIN} ... {END} block")
    return readme[start : end + len(END)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md differs")
    args = parser.parse_args(argv)
    try:
        readme = README.read_text()
        generated, current = block(), current_block(readme)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.check:
        if generated != current:
            print("README.md's configuration reference is stale: run tools/settings_reference.py")
            return 1
        return 0
    README.write_text(readme.replace(current, generated))
    print(f"README.md: {generated.count(chr(10)) - 3} settings")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
