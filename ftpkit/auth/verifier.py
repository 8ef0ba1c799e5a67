"""
Password checks in worker processes that run at a lower priority than the server.

test-case-name: tests.unit.test_verifier

An argon2id check costs about a tenth of a second of CPU and 64 MiB, by design.
Run in the server's own threads, even niced, it held up the reactor: a thread
coming back from argon2 needs the GIL, and, niced, it waits for a core behind
argon2's own lane threads while it holds the GIL, so the reactor waits too.
Measured here during 200 logins: reactor stalls of 20 to 110 ms in which the
reactor ran for 1 or 2 ms. A worker process shares no lock with the reactor.

Workers are plain subprocesses (L{ftpkit.auth.hashworker}) over pipes, not a
multiprocessing pool, whose spawned children import the parent's main script
again. One starts at each check that finds none idle, up to C{workers}; one that
dies (the OOM killer, say) is replaced and its check tried once more; each exits
when its pipe closes: at stop, or when the server dies.

Public API: none (internal).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

from twisted.application.service import Service

import ftpkit

# How much lower the workers' priority is than the server's. By design a check eats
# CPU (argon2 runs its lanes in threads of its own, which inherit this); niced, it
# uses the cores mostly when the sessions already open do not want them. Not SCHED_IDLE:
# with both cores busy at nice 0, one check took 22 s idle-scheduled (0.6 s at +10,
# 3.4 s at +19), so a loaded server would time every login out.
NICE = 10


class WorkerDied(Exception):
    """Two workers in a row died on the same check."""


class _Worker:
    def __init__(self, nice: int) -> None:
        env = dict(os.environ)  # ftpkit importable as here, even when not installed
        top = str(Path(ftpkit.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [top, env.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ftpkit.auth.hashworker", str(nice)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        assert self.process.stdin is not None and self.process.stdout is not None
        self._to: IO[bytes] = self.process.stdin
        self._from: IO[bytes] = self.process.stdout

    def verify(self, stored_hash: str, password: str) -> bool:
        """Blocking. OSError or EOFError if the worker is gone."""
        self._to.write(json.dumps([stored_hash, password]).encode() + b"\n")
        self._to.flush()
        answer = self._from.readline()
        if answer not in (b"1\n", b"0\n"):
            raise EOFError("the password worker died")
        return answer == b"1\n"

    def stop(self) -> None:
        for pipe in (self._to, self._from):
            try:
                pipe.close()
            except OSError:
                pass
        if self.process.poll() is None:
            threading.Thread(target=self.process.wait, daemon=True).start()  # reaped


class ProcessVerifier(Service):
    """L{verify} blocks (call it from a thread) while a worker process checks."""

    def __init__(self, workers: int, nice: int = NICE) -> None:
        self._most = workers
        self._nice = nice
        self._idle: list[_Worker] = []
        self._running = 0  # workers started and not yet lost
        self._ready = threading.Condition()
        self._stopped = False

    def verify(self, stored_hash: str, password: str) -> bool:
        for attempt in range(2):
            worker = self._take()
            try:
                answer = worker.verify(stored_hash, password)
            except (OSError, EOFError):
                self._lose(worker)
                if attempt:
                    raise WorkerDied("the password workers died twice on one check") from None
                continue
            self._give_back(worker)
            return answer
        raise AssertionError("unreachable")

    def stopService(self) -> None:
        super().stopService()
        with self._ready:
            self._stopped = True
            idle, self._idle = self._idle, []
            self._ready.notify_all()
        for worker in idle:  # a busy one stops when it is given back
            worker.stop()

    def _take(self) -> _Worker:
        with self._ready:
            while True:
                if self._stopped:
                    raise WorkerDied("the server is stopping")
                if self._idle:
                    return self._idle.pop()
                if self._running < self._most:
                    self._running += 1
                    break
                self._ready.wait()
        try:
            return _Worker(self._nice)
        except BaseException:
            self._lose(None)
            raise

    def _give_back(self, worker: _Worker) -> None:
        with self._ready:
            if not self._stopped:
                self._idle.append(worker)
                self._ready.notify()
                return
        worker.stop()

    def _lose(self, worker: _Worker | None) -> None:
        with self._ready:
            self._running -= 1
            self._ready.notify()
        if worker is not None:
            worker.stop()
