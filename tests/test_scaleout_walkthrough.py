"""The README's scale-out walkthrough runs end to end: 1 API node, 2 workers, PostgreSQL, Redis,
an S3-compatible server, and a tus upload -> ready -> watch round trip."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "scaleout-walkthrough.sh"


@pytest.mark.timeout(120)
def test_the_walkthrough_script_completes_a_round_trip() -> None:
    result = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=90)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "master.m3u8 without the token: 403" in output
    assert "segment: 302 -> http://127.0.0.1:" in output  # presigned redirect to the object store
    assert "round trip ok" in output
    assert "keys dropped" in output and "dropped" in output.split("postgresql:")[-1]
