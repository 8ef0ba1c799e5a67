"""
Graceful shutdown: let transfers under way finish, then close what is left.

test-case-name: tests.unit.test_shutdown

Called once the listeners have stopped (so no new connection arrives). Idle
sessions are told C{shutting_down} and closed at once; a session running a
command is closed after that command's answer. Transfers get C{grace} seconds to
finish; then every connection left is cut. A cut upload keeps its staged data
for a resume, as after any lost connection. Last, the transfers just cut are
given a few seconds to tidy up (their disk work needs the thread pool, which
stops after this).

Public API: none (internal to the twistd service).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twisted.internet.defer import Deferred, TimeoutError
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

if TYPE_CHECKING:
    from ftpkit.server.factory import ServerFactory

TIDY = 5.0  # seconds cut transfers get to close their files
log = Logger()


async def drain(factory: ServerFactory, grace: float, clock: IReactorTime) -> None:
    sessions = list(factory.sessions)
    running = factory.gate.transfers
    log.info("shutting down: {n} sessions, {t} transfers under way; waiting up to {g:g} s "
             "for the transfers", n=len(sessions), t=running, g=grace)
    for session in sessions:
        session.shutdown()
    finished = await _quiet(factory, grace, clock)
    left = [s for s in factory.sessions if not s.framesStopped or s.transfers]
    cut = factory.gate.transfers
    for session in list(factory.sessions):
        session.transport.abortConnection()
    if not finished:
        log.warn("shutdown grace of {g:g} s over: cut {t} transfers ({n} sessions); "
                 "uploads keep their staged data", g=grace, t=cut, n=len(left))
        await _quiet(factory, TIDY, clock)
    log.info("shut down: every session closed")


async def _quiet(factory: ServerFactory, timeout: float, clock: IReactorTime) -> bool:
    """Wait until no transfer runs, for at most C{timeout} seconds; whether none does."""
    waiting: Deferred[None] = factory.gate.no_transfers()
    waiting.addTimeout(timeout, clock)
    try:
        await waiting
    except TimeoutError:
        return False
    return True
