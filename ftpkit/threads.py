"""
Running blocking work off the reactor thread.

test-case-name: tests.unit.test_threads

Public API: C{run} of L{Threads} (as C{context.threads.run}); L{InlineThreads}
for tests.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from attrs import frozen
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

T = TypeVar("T")


@frozen
class Threads:
    """Runs a blocking callable in a thread pool; the result arrives on the reactor."""

    reactor: IReactorFromThreads
    pool: ThreadPool

    def run(self, f: Callable[..., T], *args: Any, **kwargs: Any) -> Deferred[T]:
        return deferToThreadPool(self.reactor, self.pool, f, *args, **kwargs)


@frozen
class InlineThreads:
    """For tests: runs the callable at once, on the calling thread."""

    def run(self, f: Callable[..., T], *args: Any, **kwargs: Any) -> Deferred[T]:
        return maybeDeferred(f, *args, **kwargs)


ThreadRunner = Threads | InlineThreads

# How much lower than the reactor's the password-check threads' priority is. A check
# is argon2id: by design it eats CPU (and argon2 runs lanes in threads of its own,
# which inherit this). Niced, it uses the cores only when nothing else wants them, so
# a burst of logins cannot delay the sessions already open.
BACKGROUND_NICE = 10


class _BackgroundThread(threading.Thread):
    def run(self) -> None:
        try:  # Linux: per thread; elsewhere it may be the whole process, so only there
            if sys.platform.startswith("linux"):
                os.setpriority(os.PRIO_PROCESS, 0, os.getpriority(os.PRIO_PROCESS, 0)
                               + BACKGROUND_NICE)
        except OSError:
            pass
        super().run()


def background_pool(name: str, maxthreads: int) -> ThreadPool:
    """A thread pool whose threads run at a lower priority than the reactor's."""
    pool = ThreadPool(minthreads=0, maxthreads=maxthreads, name=name)
    pool.threadFactory = _BackgroundThread
    return pool
