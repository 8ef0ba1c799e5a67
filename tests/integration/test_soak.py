"""
scripts/soak, shortened: a few clients for half a minute against a real server, and
every invariant it checks (docs/operations.md, "Soak testing"). `scripts/soak --quick`
is the same with 8 clients for 45 s.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "soak.py"


def test_a_short_soak_keeps_every_invariant(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--clients", "6", "--minutes", "0.5", "--seed", "5",
         "--workdir", str(tmp_path / "soak")],
        capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "invariants: ALL HOLD" in result.stdout
    assert "quota agrees: True; staging left: " in result.stdout
    assert "unexplained: 0" in result.stdout and "unexplained: 1" not in result.stdout
    ops = next(line for line in result.stdout.splitlines() if line.startswith("operations:"))
    assert int(ops.split()[1]) > 50, ops  # it really did something
