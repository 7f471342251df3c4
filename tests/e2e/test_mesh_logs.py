"""What a failing end-to-end test prints from its mesh's logs: the ERROR records logged
while it ran, with their tracebacks; not earlier ones, not lesser levels, not plain lines."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cli.launcher import Mesh
from mesh.settings import Settings
from tests.e2e import mesh_logs


def record(when: datetime, level: str, message: str, **more: str) -> str:
    stamp = when.isoformat(timespec="milliseconds")
    return json.dumps({"time": stamp, "level": level, "message": message, **more}) + "\n"


def test_a_failing_test_sees_the_errors_logged_while_it_ran(
    settings: Settings, tmp_path: Path
) -> None:
    mesh = Mesh(dataclasses.replace(settings, state_dir=tmp_path), {})
    mesh.log_dir.mkdir(parents=True)
    started = datetime.now(UTC)
    (mesh.log_dir / "trading_svc.log").write_text(
        record(started - timedelta(seconds=5), "ERROR", "before the test")
        + record(started, "INFO", "serving")
        + "not json: a raw line\n"
        + record(started + timedelta(seconds=1), "ERROR", "rpc failed", trace="Traceback: boom")
    )
    (mesh.log_dir / "envoy.log").write_text('{"path": "/v1/bots", "status": "500"}\n')

    text = mesh_logs.report([mesh], started)
    assert "rpc failed" in text and "Traceback: boom" in text
    assert "trading_svc.log" in text
    assert "before the test" not in text
    assert "serving" not in text and "raw line" not in text


def test_a_mesh_that_logged_no_errors_adds_nothing(settings: Settings, tmp_path: Path) -> None:
    mesh = Mesh(dataclasses.replace(settings, state_dir=tmp_path), {})
    mesh.log_dir.mkdir(parents=True)
    (mesh.log_dir / "credential_svc.log").write_text(record(datetime.now(UTC), "INFO", "ok"))
    assert mesh_logs.report([mesh], datetime.now(UTC) - timedelta(minutes=1)) == ""
