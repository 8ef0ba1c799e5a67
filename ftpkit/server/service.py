"""
Services that make up a running server: the thread pool and the listeners.

test-case-name: tests.integration.test_server

Public API: none (internal).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.interfaces import IListeningPort, IStreamServerEndpoint
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool


class ThreadPoolService(Service):
    def __init__(self, pool: ThreadPool) -> None:
        self.pool = pool

    def startService(self) -> None:
        super().startService()
        self.pool.start()

    def stopService(self) -> None:
        super().stopService()
        self.pool.stop()


class ListenService(Service):
    """
    Listens on every endpoint. Once all listen, writes their port numbers, one a
    line, to C{port_file} (so C{tcp:0} is usable). A listener that fails stops
    startup: synchronously when the endpoint fails at once (TCP, SSL, UNIX).
    Under twistd it listens in privilegedStartService, before privileges are shed.
    """

    log = Logger()

    def __init__(self, endpoints: list[tuple[str, IStreamServerEndpoint]], factory: Factory,
                 port_file: Path | None, stop_reactor: Any) -> None:
        self.endpoints = endpoints
        self.factory = factory
        self.port_file = port_file
        self.ports: list[IListeningPort] = []
        self._stop_reactor = stop_reactor
        self._started_listening = False

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
        return DeferredList([port.stopListening() for port in ports])  # type: ignore[misc]
