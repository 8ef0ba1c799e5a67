"""
Integration fixtures: a real `twistd -n ftpkit` on port 0, and the real CLIs.

The server is ready when it logs "ftpkit ready" (after writing --port-file); tests
wait for that line, never for a fixed time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def admin(users: Path, *args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "ftpkit-admin"), "--users", str(users), *args],
                          input=None if password is None else password + "\n",
                          capture_output=True, text=True, timeout=60)


def wait_for_line(path: Path, marker: str, timeout: float = 30,
                  process: subprocess.Popen[str] | None = None) -> str:
    """Poll C{path} until a line containing C{marker} is in it; return that line."""
    deadline = time.monotonic() + timeout
    while True:
        text = path.read_text() if path.exists() else ""
        found = [line for line in text.splitlines() if marker in line]
        if found:
            return found[0]
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"twistd exited ({process.returncode}):\n{text}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {marker!r} in {path}:\n{text}")
        time.sleep(0.02)  # a polling interval, bounded by the deadline


class _Output:
    """What one twistd process has printed so far."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.ended = False
        self.changed = threading.Condition()


class Server:
    def __init__(self, workdir: Path, *extra: str, bin: Path = BIN,
                 preexec_fn: Callable[[], None] | None = None,
                 listen: str = "tcp:0:interface=127.0.0.1",
                 log_file: Path | None = None) -> None:
        """
        @param bin: where twistd and ftpkit are (another venv's bin, say).
        @param preexec_fn: run in the twistd child before it starts.
        @param listen: the endpoint to listen on (its port is learnt from --port-file).
        @param log_file: where the server logs, when its config sends the log to a
            file rather than standard output: readiness is awaited there.
        """
        self.listen = listen
        self.log_file = log_file
        self.workdir = workdir
        self.bin = bin
        self.preexec_fn = preexec_fn
        self.users = workdir / "users.sqlite"
        self.root = workdir / "homes"
        self.port_file = workdir / "port"
        self.extra = extra
        self.lines: list[str] = []
        self.process: subprocess.Popen[str] | None = None
        self._output = _Output()

    def start(self, timeout: float = 30) -> Server:
        self.port_file.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [str(self.bin / "twistd"), "--pidfile=", "--logfile=-", "-n", "ftpkit",
             "--listen", self.listen, "--port-file", str(self.port_file),
             "--root", str(self.root), "--users", str(self.users), *self.extra],
            cwd=self.workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            preexec_fn=self.preexec_fn)
        # One reader thread per process, from the start: select() on a buffered text
        # pipe misses lines already read into Python's buffer (a flaky 30 s hang).
        self._output = _Output()
        threading.Thread(target=self._drain, args=(self.process, self._output),
                         daemon=True).start()
        try:
            if self.log_file is None:
                self._wait_for("ftpkit ready", timeout)
            else:
                wait_for_line(self.log_file, "ftpkit ready", timeout, self.process)
        except BaseException:  # never leave a half-started twistd behind
            self.process.kill()
            self.process.wait(timeout=30)
            raise
        self.port = int(self.port_file.read_text().split()[0])
        return self

    def _wait_for(self, marker: str, timeout: float) -> None:
        """Wait until the current process logs a line containing C{marker}."""
        output = self._output
        deadline = time.monotonic() + timeout
        with output.changed:
            while True:
                if any(marker in line for line in output.lines):
                    return
                if output.ended:
                    raise RuntimeError("twistd exited:\n" + "".join(output.lines))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {marker!r} from twistd:\n" + "".join(output.lines))
                output.changed.wait(left)

    def _drain(self, process: subprocess.Popen[str], output: _Output) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with output.changed:
                self.lines.append(line)
                output.lines.append(line)
                output.changed.notify_all()
        with output.changed:
            output.ended = True
            output.changed.notify_all()

    def stop(self) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=60)  # a graceful stop: up to shutdown_grace + 10 s
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
            [str(self.bin / "ftpkit"), "--port", str(self.port), "--user", user, *args],
            input=stdin, capture_output=True, text=True, env=env, timeout=timeout,
            stdin=subprocess.DEVNULL if stdin is None else None)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path)
    assert admin(srv.users, "add", "alice", "--quota", "10M", password="alice-pw").returncode == 0
    srv.start()
    yield srv
    srv.stop()
