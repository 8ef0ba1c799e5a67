"""
These tests drive the commands through ftpkit's own test helpers (tests/serverkit.py
in the ftpkit source tree): make that tree importable. Run from an ftpkit checkout
(ftpkit's scripts/test collects these tests), or set FTPKIT_SOURCE to one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

SOURCE = Path(os.environ.get("FTPKIT_SOURCE") or Path(__file__).resolve().parents[3])

if not (SOURCE / "tests" / "serverkit.py").is_file():
    raise RuntimeError(f"ftpkit's test helpers are not in {SOURCE}/tests: set FTPKIT_SOURCE "
                       "to an ftpkit source checkout")
if str(SOURCE) not in sys.path:
    sys.path.insert(0, str(SOURCE))
