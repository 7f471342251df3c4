"""Headless Chromium for the dashboard tests: the node driver (tests/browser/dashboard.mjs,
playwright-core on Debian's `chromium`), and the dashboard folder served from another local
origin by a plain http.server, as a marketplace frontend on its own origin would serve it."""

from __future__ import annotations

import asyncio
import functools
import json
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from gateway.envoy import DASHBOARD
from mesh.settings import ROOT

DRIVER = ROOT / "tests" / "browser" / "dashboard.mjs"
ARTIFACTS = ROOT / ".artifacts" / "browser"


def chromium() -> str | None:
    return shutil.which("chromium")


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def _serving(handler: Any) -> Iterator[str]:
    """`handler` served on 127.0.0.1 at a port of its own (bound here, before anything else
    can take it), in a thread, until the block ends; yields its origin."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def other_origin() -> Iterator[str]:
    """web/dashboard/ served at http://127.0.0.1:<a port of its own>/ until the block ends."""
    with _serving(functools.partial(_Quiet, directory=str(DASHBOARD))) as origin:
        yield origin


class _Recording(BaseHTTPRequestHandler):
    """Answers 404 to everything, after noting the request line and headers."""

    seen: list[str]

    def _note(self) -> None:
        self.seen.append(f"{self.command} {self.path}\n{self.headers}")
        self.send_response(404)
        self.send_header("content-length", "0")
        self.end_headers()

    do_GET = do_POST = do_OPTIONS = _note

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def recorder() -> Iterator[tuple[str, list[str]]]:
    """Another host a page might be steered to: its origin, and every request it received
    (request line and headers), until the block ends."""
    seen: list[str] = []
    with _serving(type("Recording", (_Recording,), {"seen": seen})) as origin:
        yield origin, seen


class Driver:
    """One run of the node driver; `read()` returns its next JSON line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, **args: Any) -> Driver:
        proc = await asyncio.create_subprocess_exec(
            "node",
            str(DRIVER),
            json.dumps({"chromium": chromium(), **args}),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(proc)

    async def read(self, timeout_s: float = 180) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout_s)
        if not line:
            assert self.proc.stderr is not None
            err = await self.proc.stderr.read()
            raise AssertionError(f"the browser driver failed: {err.decode()[-3000:]}")
        result: dict[str, Any] = json.loads(line)
        return result

    async def say(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")
        await self.proc.stdin.drain()

    async def close(self) -> None:
        if self.proc.returncode is None:
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


async def run(**args: Any) -> dict[str, Any]:
    """One driver run that prints one result."""
    driver = await Driver.start(**args)
    try:
        return await driver.read()
    finally:
        await driver.close()
