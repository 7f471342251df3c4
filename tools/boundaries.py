"""The import boundaries of botmesh, checked from the source text (AST; nothing is imported).

Every import statement of the production packages counts, wherever it sits (module level,
inside a function, under `if TYPE_CHECKING:`), because each one couples two modules. The rules,
each named in the violations it finds:

- `service-to-service`: a service package imports no other service. Services talk over gRPC
  and Redis Streams; their tables and code are their own.
- `kit-to-service`: the shared packages (mesh, quant, gateway, exchanges) and cli import no
  service. cli starts services as subprocesses (`python -m <svc>`), which is not an import.
- `kit-to-kit`: a shared package imports only the shared packages KIT_DEPENDS lists for it
  (mesh stands alone; exchanges builds on mesh), and exchanges no third-party library but
  ccxt: it is the one place that knows exchanges, and nothing else.
- `production-to-test-code`: no production package imports a test venue (exchange_sim, the
  fake LLM), tests or bench. Those are servers and scripts that tests, benchmarks and
  `make run` start, nothing more.
- Within a service, layers point one way: `server` (wiring) -> `servicers` -> use cases ->
  domain, stores and adapters. Concretely:
  - `imports-server`: nothing imports `<svc>.server` but `<svc>.__main__`;
  - `imports-servicers`: only `<svc>.server` imports `<svc>.servicers` (and servicers each
    other);
  - `store-to-use-case`: a store (`store.py`, `*_store.py`) or a module of an adapter package
    imports no use case (`service.py`, or a module the layout names as a use case);
  - `adapter-to-feature`: an adapter package imports no feature package of its service;
  - `domain-impurity`: a `domain/` package imports nothing from its service outside `domain/`
    and no I/O library (grpc, redis, sqlalchemy, network clients).

The per-service rooms (features, adapters, use cases besides `service.py`) are the data in
LAYOUTS; a service without an entry gets the generic rules only.

Run `python -m tools.boundaries [root]`: it prints each violation and exits 1 if any.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SERVICES = ("credential_svc", "trading_svc", "analysis_svc")
KIT = ("mesh", "quant", "gateway", "exchanges", "cli")
PRODUCTION = SERVICES + KIT
# Started, never imported, by production code.
TEST_CODE = ("exchange_sim", "analysis_svc.llm_fake", "tests", "bench")
FIRST_PARTY = frozenset(_p.split(".")[0] for _p in PRODUCTION + TEST_CODE)
# The shared packages each shared package may import (besides itself).
KIT_DEPENDS: dict[str, tuple[str, ...]] = {
    "mesh": (),
    "quant": (),
    "exchanges": ("mesh",),
    "gateway": ("mesh",),
    "cli": ("mesh", "gateway"),
}
# Third-party libraries a shared package may import, where that list is narrow on purpose.
KIT_THIRD_PARTY: dict[str, tuple[str, ...]] = {"exchanges": ("ccxt",)}
WIRING = ("server", "__main__")
# What a pure domain never touches: transports, storage, network clients.
DOMAIN_FORBIDDEN = ("grpc", "redis", "sqlalchemy", "openai", "ccxt", "httpx", "aiohttp")


@dataclass(frozen=True)
class Layout:
    """One service's rooms, as module paths relative to the service package."""

    # Feature packages: one area's use cases, stores and models (an adapter never imports one).
    features: tuple[str, ...]
    # Adapter packages: an outside system behind our own interface (exchanges, LLMs).
    adapters: tuple[str, ...] = ()
    # Use cases besides the `service` modules: orchestration that stores must not call back.
    use_cases: tuple[str, ...] = ()


LAYOUTS: dict[str, Layout] = {
    "credential_svc": Layout(
        features=("catalog", "identity", "subscriptions", "vault"),
        # The may-trade policy: use cases apply it; a store below takes no part in it.
        use_cases=("subscriptions.entitlement",),
    ),
    "trading_svc": Layout(
        features=("orders", "marketdata", "lifecycle", "performance", "events", "runtime"),
        adapters=("exchange",),
        use_cases=(
            "orders.execution",
            "orders.submission",
            "orders.reconciler",
            "lifecycle.follower",
            "lifecycle.winddown",
            "marketdata.feed",
            "performance.hourly",
            "runtime.scheduler",
            "runtime.consumer",
            "runtime.tick",
            "runtime.batch",
            "runtime.changes",
            "runtime.status",
        ),
    ),
    "analysis_svc": Layout(features=("analyze", "backtests", "advisor", "candles")),
}


@dataclass(frozen=True, order=True)
class Violation:
    rule: str
    importer: str
    imported: str
    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.importer} imports {self.imported}"

    @property
    def edge(self) -> tuple[str, str, str]:
        return (self.rule, self.importer, self.imported)


def check(root: Path) -> list[Violation]:
    """Every violation in the production packages under `root`, once per (rule, importer,
    imported) at its first line, sorted."""
    found: dict[tuple[str, str, str], Violation] = {}
    for path in _sources(root):
        importer = _module_name(path.relative_to(root))
        if _within(importer, TEST_CODE):
            continue
        rel = str(path.relative_to(root))
        for imported, line in sorted(_imports(root, path, importer), key=lambda i: i[1]):
            for rule in _broken_rules(importer, imported):
                found.setdefault(
                    (rule, importer, imported), Violation(rule, importer, imported, rel, line)
                )
    return sorted(found.values())


def _broken_rules(importer: str, imported: str) -> Iterator[str]:
    own, other = _top(importer), _top(imported)
    if own in SERVICES and other in SERVICES and own != other:
        yield "service-to-service"
    if own in KIT and other in SERVICES:
        yield "kit-to-service"
    if own in KIT and other != own and _kit_forbids(own, other):
        yield "kit-to-kit"
    if _within(imported, TEST_CODE):
        yield "production-to-test-code"
    if own in SERVICES:
        yield from _layer_rules(own, importer, imported)


def _kit_forbids(own: str, other: str) -> bool:
    if other in KIT:
        return other not in KIT_DEPENDS.get(own, ())
    allowed = KIT_THIRD_PARTY.get(own)
    third_party = other not in FIRST_PARTY and other not in sys.stdlib_module_names
    return allowed is not None and third_party and other not in allowed


def _layer_rules(service: str, importer: str, imported: str) -> Iterator[str]:
    src = _relative(importer, service)
    outside_domain = _top(imported) == service and not _in(_relative(imported, service), "domain")
    if _in(src, "domain") and (_top(imported) in DOMAIN_FORBIDDEN or outside_domain):
        yield "domain-impurity"
    if _top(imported) != service:
        return
    dst = _relative(imported, service)
    if dst == "server" and src != "__main__":
        yield "imports-server"
    if _in(dst, "servicers") and not (src in WIRING or _in(src, "servicers")):
        yield "imports-servicers"
    layout = LAYOUTS.get(service, Layout(features=()))
    in_adapter = any(_in(src, a) for a in layout.adapters)
    if (_is_store(src) or in_adapter) and _is_use_case(dst, layout):
        yield "store-to-use-case"
    if in_adapter and any(_in(dst, f) for f in layout.features):
        yield "adapter-to-feature"


def _is_store(rel: str) -> bool:
    last = rel.split(".")[-1]
    return last == "store" or last.endswith("_store")


def _is_use_case(rel: str, layout: Layout) -> bool:
    return rel.split(".")[-1] == "service" or rel in layout.use_cases


def _imports(root: Path, path: Path, importer: str) -> Iterator[tuple[str, int]]:
    """(module, line) for every import in `path`: first-party modules by their full name,
    third-party ones by their distribution's top-level name (`redis`, not `redis.asyncio`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and (base := _absolute(node, package)):
            # `from pkg import name` imports pkg.name when that is a module, else pkg.
            subs = [f"{base}.{a.name}" for a in node.names if a.name != "*"]
            names = [m for m in subs if _exists(root, m)] or [base]
        else:
            continue
        for name in names:
            ours = _top(name) in FIRST_PARTY or _exists(root, _top(name))
            yield (name if ours else _top(name)), node.lineno


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    parts = package.split(".")
    base = ".".join(parts[: len(parts) - node.level + 1]) if node.level <= len(parts) else ""
    return f"{base}.{node.module}" if base and node.module else base


def _exists(root: Path, module: str) -> bool:
    path = root.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _sources(root: Path) -> Iterator[Path]:
    for package in PRODUCTION:
        if (root / package).is_dir():
            yield from sorted((root / package).rglob("*.py"))


def _module_name(rel: Path) -> str:
    parts = list(rel.with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top(module: str) -> str:
    return module.split(".")[0]


def _relative(module: str, service: str) -> str:
    return module[len(service) + 1 :] if module != service else ""


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(_in(module, p) for p in packages)


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent
    violations = check(root)
    for violation in violations:
        print(violation)
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
