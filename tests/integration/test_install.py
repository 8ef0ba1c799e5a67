"""
`twistd --help` lists ftpkit after `pip install .` and after `pip install -e .`.

Each case makes a fresh venv that sees this venv's dependencies (through a .pth line,
which does not run this venv's own .pth files, so the editable ftpkit here is not
visible) and installs ftpkit into it, without build isolation or downloads.
"""

from __future__ import annotations

import site
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROJECT = Path(__file__).resolve().parents[2]


def fresh_venv(where: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                              "['purelib'])"], capture_output=True, text=True, check=True)
    deps = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (Path(purelib.stdout.strip()) / "deps.pth").write_text("\n".join(deps) + "\n")
    return python


def pip_install(python: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-deps", "--no-build-isolation", "--disable-pip-version-check", *args],
                   check=True, capture_output=True, cwd=PROJECT)


def twistd_help(python: Path, cwd: Path) -> str:
    result = subprocess.run([str(python), "-m", "twisted", "--help"], cwd=cwd,
                            capture_output=True, text=True)
    return result.stdout + result.stderr


@pytest.mark.parametrize("editable", [False, True], ids=["install", "editable"])
def test_twistd_lists_ftpkit(tmp_path: Path, editable: bool) -> None:
    python = fresh_venv(tmp_path / "venv")
    assert "ftpkit" not in twistd_help(python, tmp_path)  # the venv really is fresh
    pip_install(python, *(["-e", str(PROJECT)] if editable else [str(PROJECT)]))
    assert "A multi-user file server" in twistd_help(python, tmp_path)
    scripts = {p.name for p in (tmp_path / "venv" / "bin").iterdir()}
    assert {"ftpkit", "ftpkit-admin"} <= scripts
