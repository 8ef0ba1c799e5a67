"""
Running blocking work off the reactor thread.

Public API: C{run} of L{Threads} (as C{context.threads.run}); L{InlineThreads}
for tests.
"""

from __future__ import annotations

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
