"""The key-encryption keyring: versioned 256-bit keys that wrap the per-credential data keys.

Like MultiFernet, several versions can be loaded and exactly one is active: new data keys are
wrapped by the active version, older ones still unwrap until they are rewrapped, and a retired
version is removed from the keyring so whatever it wrapped can never be unwrapped again.

The keyring comes from BOTMESH_KEYRING (JSON, fixed: rotation is refused, since a version
added in memory would be lost at restart with the data it wrapped) or from a file created
0600 on first run and rewritten atomically by rotation. Never from the database: a database
dump alone must not decrypt anything. Other processes of the service notice a rotated file by
its mtime before every wrap and unwrap, so they wrap with the new version too.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mesh.errors import FailedPrecondition


class KeyringError(Exception):
    """A keyring that cannot be read; the message never holds key material."""


@dataclass(frozen=True)
class KeyringState:
    active: int
    keys: dict[int, bytes]

    def to_json(self) -> str:
        return json.dumps(
            {
                "active": self.active,
                "keys": {str(v): base64.b64encode(k).decode() for v, k in self.keys.items()},
            },
            indent=1,
        )

    def __repr__(self) -> str:
        return f"KeyringState(active={self.active}, versions={sorted(self.keys)})"


def parse_keyring(text: str) -> KeyringState:
    try:
        data = json.loads(text)
        keys = {int(v): base64.b64decode(k, validate=True) for v, k in data["keys"].items()}
        active = int(data["active"])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise KeyringError("keyring is not valid JSON of {active, keys}") from None
    if active not in keys or any(len(k) != 32 for k in keys.values()):
        raise KeyringError("keyring needs 32-byte keys and an active version among them")
    return KeyringState(active, keys)


def _write_private(path: Path, text: str, *, replace: bool = True) -> None:
    """Writes a 0600 file atomically. With replace=False an existing file wins
    (FileExistsError), so processes starting together agree on one first keyring."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    if replace:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    finally:
        os.unlink(tmp)


class Keyring:
    def __init__(self, state: KeyringState, path: Path | None) -> None:
        self._state = state
        self._path = path
        self._mtime = path.stat().st_mtime_ns if path is not None else 0
        self._lock = threading.Lock()

    @classmethod
    def load(cls, json_text: str | None, path: Path) -> Keyring:
        if json_text:
            return cls(parse_keyring(json_text), None)
        if not path.exists():
            first = KeyringState(1, {1: secrets.token_bytes(32)}).to_json()
            with contextlib.suppress(FileExistsError):  # another process created it first
                _write_private(path, first, replace=False)
        return cls(parse_keyring(path.read_text()), path)

    def _refresh(self) -> None:
        if self._path is None:
            return
        mtime = self._path.stat().st_mtime_ns
        if mtime != self._mtime:
            with self._lock:
                self._state = parse_keyring(self._path.read_text())
                self._mtime = mtime

    @property
    def active_version(self) -> int:
        self._refresh()
        return self._state.active

    @property
    def versions(self) -> list[int]:
        self._refresh()
        return sorted(self._state.keys)

    def key(self, version: int) -> bytes | None:
        """The key of `version`, or None when it was retired or never existed."""
        self._refresh()
        return self._state.keys.get(version)

    def add_version(self) -> int:
        """Adds a new version, makes it active and persists it; returns it."""

        def add(state: KeyringState) -> KeyringState:
            new = max(state.keys) + 1
            return KeyringState(new, {**state.keys, new: secrets.token_bytes(32)})

        return self._save(add)

    def retire_below(self, version: int) -> list[int]:
        """Removes every version older than `version`; returns the removed versions."""
        removed = [v for v in self.versions if v < version]
        self._save(
            lambda s: KeyringState(s.active, {v: k for v, k in s.keys.items() if v >= version})
        )
        return removed

    def _save(self, change: Callable[[KeyringState], KeyringState]) -> int:
        if self._path is None:
            raise FailedPrecondition(
                "the keyring comes from BOTMESH_KEYRING; add a version there and restart",
                reason="KEYRING_NOT_WRITABLE",
            )
        with self._lock:
            current = parse_keyring(self._path.read_text())
            updated = change(current)
            _write_private(self._path, updated.to_json())
            self._state = updated
            self._mtime = self._path.stat().st_mtime_ns
            return int(updated.active)
