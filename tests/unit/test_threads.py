"""Thread pools: the background pool's threads yield the CPU to the reactor's."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from ftpkit.threads import BACKGROUND_NICE, background_pool


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_background_pool_threads_run_niced_and_the_caller_does_not() -> None:
    before = os.getpriority(os.PRIO_PROCESS, 0)
    pool = background_pool("test-background", 1)
    pool.start()
    seen: list[int] = []
    done = threading.Event()

    def job() -> None:
        seen.append(os.getpriority(os.PRIO_PROCESS, 0))
        done.set()

    try:
        pool.callInThread(job)
        assert done.wait(10)
    finally:
        pool.stop()
    assert seen == [min(19, before + BACKGROUND_NICE)]
    assert os.getpriority(os.PRIO_PROCESS, 0) == before  # the calling thread is untouched
