"""trading_svc knows credential_svc only through its internal RPCs and its change stream:
no file of trading_svc names that package (what `grep -r credential_svc trading_svc` shows,
without the bytecode caches), so nothing imports it, however indirectly spelled."""

from __future__ import annotations

from pathlib import Path

import trading_svc

ROOT = Path(trading_svc.__file__).parent


def test_trading_svc_never_names_credential_svc() -> None:
    files = [p for p in ROOT.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert any(p.name == "server.py" for p in files)  # the walk found the package
    naming = [str(p.relative_to(ROOT)) for p in files if b"credential_svc" in p.read_bytes()]
    assert naming == []
