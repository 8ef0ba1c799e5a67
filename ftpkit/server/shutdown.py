"""
Graceful shutdown: let transfers under way finish, then close what is left.

test-case-name: tests.unit.test_shutdown

Called once the listeners have stopped (so no new connection arrives). Idle
sessions are told C{shutting_down} and closed at once; a session running a
command is closed after that command's answer. Transfers get C{grace} seconds to
finish; those still running then are cut. A cut upload keeps its staged data for
a resume, as after any lost connection. Sessions closing after their last answer
get a few seconds to hand it over, then whatever is left is cut; last, the
transfers just cut get a few seconds to close their files (their disk work needs
the thread pool, which stops after this).

Public API: none (internal to the twistd service).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twisted.internet.defer import Deferred, TimeoutError
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater
from twisted.logger import Logger

if TYPE_CHECKING:
    from ftpkit.server.factory import ServerFactory

TIDY = 5.0  # seconds cut transfers get to close their files
log = Logger()


async def drain(factory: ServerFactory, grace: float, clock: IReactorTime) -> None:
    gate = factory.gate
    log.info("shutting down: {n} sessions, {t} transfers under way; waiting up to {g:g} s "
             "for the transfers", n=len(factory.sessions), t=gate.transfers, g=grace)
    for session in list(factory.sessions):
        session.shutdown()
    finished = await _within(gate.no_transfers(), grace, clock)
    if not finished:
        cut = [s for s in factory.sessions if s.transfers]
        log.warn("shutdown grace of {g:g} s over: cut {t} transfers ({n} sessions); "
                 "uploads keep their staged data", g=grace, t=gate.transfers, n=len(cut))
        for session in cut:
            session.transport.abortConnection()
    await deferLater(clock, 0, lambda: None)  # the last answers go out
    # sessions closing after their answer may take a moment to hand it over
    await _within(gate.no_connections(), TIDY, clock)
    for session in list(factory.sessions):
        session.transport.abortConnection()
    await _within(gate.no_transfers(), TIDY, clock)  # cut transfers close their files
    log.info("shut down: every session closed")


async def _within(waiting: Deferred[None], timeout: float, clock: IReactorTime) -> bool:
    """Wait for C{waiting}, for at most C{timeout} seconds; whether it fired."""
    waiting.addTimeout(timeout, clock)
    try:
        await waiting
    except TimeoutError:
        return False
    return True
