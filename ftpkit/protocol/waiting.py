"""
Waiting on the reactor for a descriptor Twisted does not own to become readable or
writable: the raw senders and receivers' way of not holding a thread on a slow peer.

test-case-name: tests.unit.test_rawrecv

Public API: none (internal).
"""

from __future__ import annotations

import select
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReadDescriptor, IWriteDescriptor
from twisted.python.failure import Failure
from zope.interface import implementer

# Seconds after which a wait ends anyway, so that its caller looks again at whether
# to go on: a session closed meanwhile must not leave a descriptor waiting forever.
RECHECK = 1.0


@implementer(IReadDescriptor, IWriteDescriptor)
class _Waiter:
    def __init__(self, reactor: Any, fd: int, writing: bool) -> None:
        self._reactor, self._fd, self._writing = reactor, fd, writing
        self.ready: Deferred[bool] = Deferred()
        self._timer: Any = None

    def start(self, timeout: float) -> Deferred[bool]:
        (self._reactor.addWriter if self._writing else self._reactor.addReader)(self)
        self._timer = self._reactor.callLater(timeout, self._fire, None, False)
        return self.ready

    def _fire(self, failure: Failure | None = None, ready: bool = True) -> None:
        (self._reactor.removeWriter if self._writing else self._reactor.removeReader)(self)
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        if not self.ready.called:
            if failure is None:
                self.ready.callback(ready)
            else:
                self.ready.errback(failure)

    def fileno(self) -> int:
        return self._fd

    def doRead(self) -> None:
        self._fire()

    doWrite = doRead

    def connectionLost(self, reason: Failure) -> None:
        self._fire(reason)

    def logPrefix(self) -> str:
        return "ftpkit-raw"


def readable(reactor: Any, fd: int, timeout: float = RECHECK) -> Deferred[bool]:
    """Fires with True once C{fd} is readable, or with False after C{timeout} seconds."""
    return _Waiter(reactor, fd, False).start(timeout)


def writable(reactor: Any, fd: int, timeout: float = RECHECK) -> Deferred[bool]:
    """Fires with True once C{fd} is writable, or with False after C{timeout} seconds."""
    return _Waiter(reactor, fd, True).start(timeout)


def poll(fd: int, writing: bool, timeout: float) -> bool:
    """Blocking (in a thread): whether C{fd} becomes readable or writable within C{timeout} s."""
    poller = select.poll()
    poller.register(fd, select.POLLOUT if writing else select.POLLIN)
    return bool(poller.poll(timeout * 1000))


def poll_unless_wanted(fd: int, writing: bool, timeout: float,
                       has_backlog: Callable[[], bool] | None) -> bool:
    """
    Blocking (in a thread): L{poll}, except that while other work waits for a thread
    (C{has_backlog()}), a thread is not spent waiting on one socket: False at once.
    """
    if has_backlog is not None and has_backlog():
        return False
    return poll(fd, writing, timeout)
