"""Generates everything derived from protos/: Python messages, gRPC stubs, .pyi types and the
descriptor set Envoy's transcoder loads, and the OpenAPI document (tools/openapi.py). One
command (`make gen`), so nothing is edited by hand.

Generated code lives in gen/ and is not committed: every setup regenerates it, so it cannot
go stale.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
THIRD_PARTY = PROTOS / "third_party"
GEN = ROOT / "gen"
DESCRIPTOR_SET = GEN / "botmesh.binpb"


def our_protos() -> list[str]:
    return sorted(str(p.relative_to(PROTOS)) for p in (PROTOS / "botmesh").rglob("*.proto"))


def main() -> int:
    wkt = Path(grpc_tools.__file__).parent / "_proto"
    if GEN.exists():
        shutil.rmtree(GEN)
    GEN.mkdir()
    files = our_protos()
    bindir = Path(sys.executable).parent
    args = [
        "grpc_tools.protoc",
        f"-I{PROTOS}",
        f"-I{THIRD_PARTY}",
        f"-I{wkt}",
        f"--python_out={GEN}",
        f"--plugin=protoc-gen-mypy={bindir / 'protoc-gen-mypy'}",
        f"--mypy_out=quiet:{GEN}",
        f"--grpc_python_out={GEN}",
        f"--plugin=protoc-gen-mypy_grpc={bindir / 'protoc-gen-mypy_grpc'}",
        f"--mypy_grpc_out=quiet:{GEN}",
        *files,
    ]
    # Envoy's transcoder also needs google.rpc's error details, to print them as JSON.
    descriptor_args = [
        "grpc_tools.protoc",
        f"-I{PROTOS}",
        f"-I{THIRD_PARTY}",
        f"-I{wkt}",
        f"--descriptor_set_out={DESCRIPTOR_SET}",
        "--include_imports",
        # Comments, for the OpenAPI document's descriptions (Envoy ignores them).
        "--include_source_info",
        *files,
        "google/rpc/status.proto",
        "google/rpc/error_details.proto",
    ]
    if protoc.main(args) != 0 or protoc.main(descriptor_args) != 0:
        print("protoc failed", file=sys.stderr)
        return 1
    for folder in [GEN / "botmesh", *(GEN / "botmesh").rglob("*")]:
        if folder.is_dir():
            (folder / "__init__.py").touch()
    (GEN / "botmesh" / "py.typed").touch()
    print(f"generated {len(files)} protos into {GEN.relative_to(ROOT)}/")
    # The OpenAPI document, from the descriptor set just written. A fresh interpreter: gen/
    # joins sys.path (botmesh-gen.pth) only when it exists at start-up.
    return subprocess.run([sys.executable, "-m", "tools.openapi"], cwd=ROOT, check=False).returncode


if __name__ == "__main__":
    raise SystemExit(main())
