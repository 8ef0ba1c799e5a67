"""
Services that make up a running server: the thread pool and the listeners.

test-case-name: tests.integration.test_server

Stopping (SIGTERM): the listeners stop first, so no new connection arrives; then
the sessions are drained (L{ftpkit.server.shutdown.drain}: transfers under way get
the grace period); only then does the thread pool stop. twistd waits for all of
it, and exits 0.

Public API: none (internal).
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.interfaces import IListeningPort, IStreamServerEndpoint
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from ftpkit.server.shutdown import drain

# New connections a TCP listener takes in one reactor turn. Twisted's accepts up to
# its numberAccepts (100 at first, 20 more each time all were taken), and each new
# session's start and hello run in that turn and the next: a burst of 200 connects
# held every open session's requests for 33 ms, 1000 for 80-120 ms (measured,
# docs/performance.md). Past this many, the rest wait in the listen backlog until
# the reactor has served the others once more.
ACCEPTS_PER_TURN = 16


class ThreadPoolService(Service):
    """Runs the pool; at stop, first waits for C{wait_for()} (the sessions' last disk work)."""

    def __init__(self, pool: ThreadPool,
                 wait_for: Callable[[], Deferred[None]] | None = None) -> None:
        self.pool = pool
        self.wait_for = wait_for

    def startService(self) -> None:
        super().startService()
        self.pool.start()

    def stopService(self) -> Deferred[None]:
        super().stopService()
        d = self.wait_for() if self.wait_for is not None else succeed(None)
        return d.addBoth(lambda _: self.pool.stop())


class TermService(Service):
    """
    SIGTERM stops the reactor like twistd's own handler, but without re-raising the
    signal at exit: a graceful stop exits 0.
    """

    log = Logger()

    def __init__(self, reactor: Any) -> None:
        self._reactor = reactor

    def startService(self) -> None:
        super().startService()
        # twistd starts services before the reactor installs its own handlers
        self._reactor.callWhenRunning(signal.signal, signal.SIGTERM, self._term)

    def _term(self, signum: int, frame: Any) -> None:
        self.log.info("SIGTERM: stopping gracefully")
        self._reactor.callFromThread(self._reactor.stop)


class ListenService(Service):
    """
    Listens on every endpoint. Once all listen, writes their port numbers, one a
    line, to C{port_file} (so C{tcp:0} is usable). A listener that fails stops
    startup: synchronously when the endpoint fails at once (TCP, SSL, UNIX).
    Under twistd it listens in privilegedStartService, before privileges are shed.
    """

    log = Logger()

    def __init__(self, endpoints: list[tuple[str, IStreamServerEndpoint]], factory: Factory,
                 port_file: Path | None, stop_reactor: Any, grace: float = 0.0,
                 clock: Any = None) -> None:
        self.endpoints = endpoints
        self.factory = factory
        self.port_file = port_file
        self.ports: list[IListeningPort] = []
        self._stop_reactor = stop_reactor
        self._started_listening = False
        self._grace = grace
        self._clock = clock
        self._stopping = False
        self._waiters: list[Deferred[None]] = []

    def privilegedStartService(self) -> None:
        """Listen before twistd drops privileges (--uid/--gid), so that ports < 1024 work."""
        super().privilegedStartService()
        self._listen()

    def startService(self) -> None:
        super().startService()
        if not self._started_listening:  # not run by twistd, which calls the above first
            self._listen()

    def _listen(self) -> None:
        self._started_listening = True
        waiting: list[Deferred[IListeningPort]] = []
        for description, endpoint in self.endpoints:
            d = endpoint.listen(self.factory)
            failed: list[Failure] = []
            d.addErrback(failed.append)
            if failed:
                raise RuntimeError(f"cannot listen on {description}: "
                                   f"{failed[0].getErrorMessage()}")
            d.addCallback(self._listening, description)
            waiting.append(d)
        DeferredList(waiting, fireOnOneErrback=True, consumeErrors=True).addCallbacks(
            self._all_listening, self._listen_failed)

    def _listening(self, port: IListeningPort, description: str) -> IListeningPort:
        pace_accepts(port, ACCEPTS_PER_TURN)
        self.ports.append(port)
        self.log.info("listening on {where} ({address})", where=description,
                      address=port.getHost())
        return port

    def _all_listening(self, results: list[tuple[bool, IListeningPort]]) -> None:
        if self.port_file is not None:
            numbers = [str(getattr(port.getHost(), "port", "")) for _, port in results]
            tmp = self.port_file.with_name(self.port_file.name + ".tmp")
            tmp.write_text("\n".join(numbers) + "\n")
            tmp.replace(self.port_file)  # readers never see a partial file
        self.log.info("ftpkit ready")

    def _listen_failed(self, failure: Failure) -> None:
        self.log.critical("cannot listen: {error}", error=failure.getErrorMessage())
        self._stop_reactor()

    def stopService(self) -> Deferred[Any]:
        super().stopService()
        self._started_listening = False
        if self.port_file is not None:
            self.port_file.unlink(missing_ok=True)
        ports, self.ports = self.ports, []
        d = DeferredList([port.stopListening() for port in ports])  # type: ignore[misc]
        d.addCallback(self._stopped_listening)
        self._stopping = True
        return d.addBoth(self._stopped)

    def _stopped(self, result: object) -> None:
        if isinstance(result, Failure):
            self.log.failure("stopping failed", result)
        self._stopping = False
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            d.callback(None)

    def _stopped_listening(self, _: object) -> Deferred[None] | None:
        self.log.info("stopped listening")
        sessions = getattr(self.factory, "sessions", None)
        if sessions is None or self._clock is None:
            return None
        return Deferred.fromCoroutine(drain(self.factory, self._grace,  # type: ignore[arg-type]
                                            self._clock))

    def drained(self) -> Deferred[None]:
        """Fires once a stop has closed every session (at once when not stopping)."""
        if not self._stopping:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._waiters.append(d)
        return d


def pace_accepts(port: Any, most: int) -> None:
    """
    Keep C{port} from accepting more than C{most} connections in one reactor turn.
    Only Twisted's TCP ports (plain and TLS) have the knob; others are left alone.
    """
    if not isinstance(getattr(port, "numberAccepts", None), int):
        return
    accept = port.doRead

    def doRead() -> Any:
        port.numberAccepts = min(port.numberAccepts, most)  # Twisted raises it as it goes
        return accept()

    port.doRead = doRead
