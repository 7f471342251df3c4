"""What a failing end-to-end test prints about the mesh it ran against: the ERROR records
(with their tracebacks) that the mesh's services logged while the test ran, and the log
tail of any process that exited, so a CI failure names its cause.

The services log JSON lines (mesh/logs.py); records are picked by level and by time, so the
records of earlier tests of the session are left out."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from cli.launcher import Mesh

LEVELS = ("ERROR", "CRITICAL")
MAX_RECORDS = 40
TAIL_CHARS = 4000


def error_records(log_dir: Path, since: datetime) -> list[str]:
    """ERROR and CRITICAL records logged at or after `since`, oldest first, each with its
    file name and traceback."""
    found: list[tuple[datetime, str]] = []
    for path in sorted(log_dir.glob("*.log")):
        with path.open(errors="replace") as fh:
            for line in fh:
                record = _record(line)
                if record is None or record.get("level") not in LEVELS:
                    continue
                when = _parse(str(record.get("time", "")))
                if when is None or when < since:
                    continue
                trace = record.pop("trace", "")
                text = f"{path.name}: {json.dumps(record, default=str)}"
                found.append((when, f"{text}\n{trace}" if trace else text))
    found.sort(key=lambda item: item[0])
    return [text for _, text in found[-MAX_RECORDS:]]


def exited_tails(mesh: Mesh) -> list[str]:
    """The end of the log of each process of `mesh` that has exited."""
    tails = []
    for name, proc in mesh.processes.items():
        code = proc.poll()
        path = mesh.log_dir / f"{name}.log"
        if code is not None and path.exists():
            tail = path.read_text(errors="replace")[-TAIL_CHARS:]
            tails.append(f"{name} exited with {code}; its log ends:\n{tail}")
    return tails


def report(meshes: Iterable[Mesh], since: datetime) -> str:
    """The section a failing test prints, or "" when the meshes logged nothing wrong."""
    parts: list[str] = []
    for mesh in meshes:
        records = error_records(mesh.log_dir, since) if mesh.log_dir.exists() else []
        if records:
            parts.append(f"ERROR records in {mesh.log_dir}:\n" + "\n".join(records))
        parts.extend(exited_tails(mesh))
    return "\n\n".join(parts)


def _record(line: str) -> dict[str, object] | None:
    if not line.startswith("{"):
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _parse(stamp: str) -> datetime | None:
    try:
        return datetime.fromisoformat(stamp)
    except ValueError:
        return None
