"""
Integration fixtures: a real `twistd -n ftpkit` on port 0, and the real CLIs.

The server is ready when it logs "ftpkit ready" (after writing --port-file); tests
wait for that line, never for a fixed time.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def admin(users: Path, *args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "ftpkit-admin"), "--users", str(users), *args],
                          input=None if password is None else password + "\n",
                          capture_output=True, text=True, timeout=60)


class Server:
    def __init__(self, workdir: Path, *extra: str) -> None:
        self.workdir = workdir
        self.users = workdir / "users.sqlite"
        self.root = workdir / "homes"
        self.port_file = workdir / "port"
        self.extra = extra
        self.lines: list[str] = []
        self.process: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 30) -> Server:
        self.port_file.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [str(BIN / "twistd"), "--pidfile=", "--logfile=-", "-n", "ftpkit",
             "--listen", "tcp:0:interface=127.0.0.1", "--port-file", str(self.port_file),
             "--root", str(self.root), "--users", str(self.users), *self.extra],
            cwd=self.workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._wait_for("ftpkit ready", timeout)
        threading.Thread(target=self._drain, daemon=True).start()
        self.port = int(self.port_file.read_text().split()[0])
        return self

    def _wait_for(self, marker: str, timeout: float) -> None:
        assert self.process is not None and self.process.stdout is not None
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self.process.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if not sel.select(deadline - time.monotonic()):
                    break
                line = self.process.stdout.readline()
                if not line:
                    raise RuntimeError("twistd exited:\n" + "".join(self.lines))
                self.lines.append(line)
                if marker in line:
                    return
        raise TimeoutError(f"no {marker!r} from twistd:\n" + "".join(self.lines))

    def _drain(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def stop(self) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        self.process = None
        return code

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def cli(self, *args: str, user: str = "alice", password: str | None = "alice-pw",
            stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FTPKIT_")}
        if password is not None:
            env["FTPKIT_PASSWORD"] = password
        return subprocess.run(
            [str(BIN / "ftpkit"), "--port", str(self.port), "--user", user, *args],
            input=stdin, capture_output=True, text=True, env=env, timeout=timeout,
            stdin=subprocess.DEVNULL if stdin is None else None)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path)
    assert admin(srv.users, "add", "alice", "--quota", "10M", password="alice-pw").returncode == 0
    srv.start()
    yield srv
    srv.stop()
