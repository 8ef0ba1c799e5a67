"""ProcessVerifier: password checks in niced worker processes that survive a crash."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator

import pytest

from ftpkit.auth import verifier as verifier_module
from ftpkit.auth.passwords import PasswordHasher
from ftpkit.auth.verifier import NICE, ProcessVerifier, WorkerDied

HASH = PasswordHasher.cheap().hash("right ☃")


@pytest.fixture
def verifier() -> Iterator[ProcessVerifier]:
    v = ProcessVerifier(2)
    v.startService()
    yield v
    v.stopService()


def workers(v: ProcessVerifier) -> list[verifier_module._Worker]:
    return list(v._idle)


def test_a_right_password_matches_and_a_wrong_one_does_not(verifier: ProcessVerifier) -> None:
    assert verifier.verify(HASH, "right ☃") is True
    assert verifier.verify(HASH, "wrong") is False
    assert verifier.verify("not a hash", "right ☃") is False  # like PasswordHasher.verify


def test_checks_run_in_another_process_at_a_lower_priority(verifier: ProcessVerifier) -> None:
    verifier.verify(HASH, "right ☃")
    [worker] = workers(verifier)  # one check at a time needs one worker
    pid = worker.process.pid
    assert pid != os.getpid()
    if sys.platform.startswith("linux"):
        nice = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[16])
        assert nice == min(19, os.nice(0) + NICE)


def test_checks_at_once_get_a_worker_each_up_to_the_limit(verifier: ProcessVerifier) -> None:
    answers: list[bool] = []
    threads = [threading.Thread(target=lambda: answers.append(verifier.verify(HASH, "x")))
               for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert answers == [False] * 6
    assert 1 <= len(workers(verifier)) <= 2


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_killed_worker_is_replaced_and_the_check_still_answers(
        verifier: ProcessVerifier) -> None:
    verifier.verify(HASH, "x")
    [worker] = workers(verifier)
    os.kill(worker.process.pid, signal.SIGKILL)
    worker.process.wait()
    assert verifier.verify(HASH, "right ☃") is True  # on a new worker
    [replacement] = workers(verifier)
    assert replacement is not worker and replacement.process.poll() is None


def test_workers_that_die_twice_on_one_check_are_an_error(
        verifier: ProcessVerifier, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[int] = []

    class Dying:
        def __init__(self, nice: int) -> None:
            started.append(nice)

        def verify(self, stored_hash: str, password: str) -> bool:
            raise EOFError("the password worker died")

        def stop(self) -> None:
            pass

    monkeypatch.setattr(verifier_module, "_Worker", Dying)
    with pytest.raises(WorkerDied):
        verifier.verify(HASH, "right ☃")
    assert started == [NICE, NICE]  # tried once more on a fresh worker, then gave up
    assert verifier._running == 0  # neither counts against the limit any more


def test_stopping_ends_the_workers_and_refuses_more_checks() -> None:
    v = ProcessVerifier(1)
    v.startService()
    v.verify(HASH, "x")
    [worker] = workers(v)
    v.stopService()
    assert worker.process.wait(30) == 0  # its input closed: it exits by itself
    with pytest.raises(WorkerDied, match="stopping"):
        v.verify(HASH, "x")


def test_a_worker_exits_when_its_server_goes() -> None:
    v = ProcessVerifier(1)
    v.verify(HASH, "x")
    [worker] = workers(v)
    worker._to.close()  # what the server's death does to the pipe
    assert worker.process.wait(30) == 0


def test_the_worker_gives_its_heap_back_once_after_each_idle_spell() -> None:
    from ftpkit.auth.hashworker import requests

    r, w = os.pipe()
    released: list[int] = []

    def release() -> None:  # the next request arrives only after the idle spell
        released.append(1)
        os.write(w, b"b\n")

    lines = requests(r, release, idle=0)
    os.write(w, b"a\n")
    assert next(lines) == b"a" and released == []
    assert next(lines) == b"b" and released == [1]
    os.write(w, b"c\nd\n")  # waiting already: no idle spell in between
    assert [next(lines), next(lines)] == [b"c", b"d"] and released == [1]
    os.close(w)
    assert list(lines) == []  # the end of the input ends the worker
    os.close(r)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc, glibc")
def test_a_worker_keeps_argon2s_memory_between_checks() -> None:
    # With the default parameters each check uses 64 MiB: 16 384 fresh pages if the
    # worker mapped them anew each time.
    real = PasswordHasher().hash("pw")
    v = ProcessVerifier(1)
    v.startService()
    try:
        assert v.verify(real, "pw") is True
        [worker] = workers(v)

        def faults() -> int:
            return int(open(f"/proc/{worker.process.pid}/stat").read()
                       .rsplit(")", 1)[1].split()[7])
        before = faults()
        assert v.verify(real, "no") is False
        assert faults() - before < 1000
    finally:
        v.stopService()
