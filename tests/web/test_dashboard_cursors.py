"""The dashboard orders stream cursors as Redis stream ids ("<ms>-<seq>", each part up to
2^64 - 1) exactly, past the 2^53 where JavaScript numbers lose digits: the rule its
resume-without-duplicates depends on (web/dashboard/stream.js, run in Node)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from gateway.envoy import DASHBOARD

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")

CASES = [
    ("1796249123102-0", "1796249123102-0", 0),
    ("1796249123102-1", "1796249123102-0", 1),
    ("1796249123102-0", "1796249123103-0", -1),
    ("9", "10", -1),  # numbers, not strings
    ("18446744073709551615-1", "18446744073709551615-0", 1),
    ("9007199254740993-0", "9007199254740992-0", 1),  # equal as floats
    ("5", "5-0", 0),
]


def test_cursors_compare_as_64_bit_integers() -> None:
    script = (
        f"import {{ compareCursors }} from {json.dumps(str(DASHBOARD / 'stream.js'))};"
        f"const cases = {json.dumps(CASES)};"
        "console.log(JSON.stringify(cases.map(([a, b]) => compareCursors(a, b))));"
    )
    ran = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout) == [expected for _, _, expected in CASES]
