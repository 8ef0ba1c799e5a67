"""
Running blocking work off the reactor thread.

Public API: C{run} of L{Threads} (as C{context.threads.run}); L{InlineThreads}
for tests.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from attrs import field, frozen
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
    _backlog: _Count = field(init=False, factory=lambda: _Count())

    def run(self, f: Callable[..., T], *args: Any, **kwargs: Any) -> Deferred[T]:
        backlog = self._backlog
        backlog.add(1)

        def started(*args: Any, **kwargs: Any) -> T:
            backlog.add(-1)
            return f(*args, **kwargs)

        return deferToThreadPool(self.reactor, self.pool, started, *args, **kwargs)

    def has_backlog(self) -> bool:
        """From any thread: work handed to the pool is waiting for a thread."""
        return self._backlog.value > 0


@frozen
class InlineThreads:
    """For tests: runs the callable at once, on the calling thread."""

    def run(self, f: Callable[..., T], *args: Any, **kwargs: Any) -> Deferred[T]:
        return maybeDeferred(f, *args, **kwargs)

    def has_backlog(self) -> bool:
        return False


class _Count:
    """An integer that threads add to under a lock."""

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.value += n


ThreadRunner = Threads | InlineThreads
