"""The thread runner: blocking work off the reactor, and whether any waits for a thread."""

from __future__ import annotations

import threading
from typing import Any

from twisted.python.threadpool import ThreadPool

from ftpkit.threads import InlineThreads, Threads


class FromThreads:
    """Takes results from the pool's threads; nothing here looks at them."""

    def callFromThread(self, f: Any, *args: Any, **kwargs: Any) -> None:
        pass


def test_has_backlog_only_while_work_waits_for_a_thread() -> None:
    pool = ThreadPool(minthreads=1, maxthreads=1)
    pool.start()
    try:
        threads = Threads(FromThreads(), pool)
        running, release, second = threading.Event(), threading.Event(), threading.Event()
        threads.run(lambda: (running.set(), release.wait(10)))
        assert running.wait(10)
        assert not threads.has_backlog()  # the one job has its thread
        threads.run(second.set)
        assert threads.has_backlog()  # the second waits for it
        release.set()
        assert second.wait(10)
        assert not threads.has_backlog()
    finally:
        release.set()
        pool.stop()


def test_inline_threads_never_have_a_backlog() -> None:
    assert not InlineThreads().has_backlog()
