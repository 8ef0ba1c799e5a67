"""A TCP listener takes a burst of connects a few at a time (ftpkit.server.service)."""

from __future__ import annotations

import socket

from twisted.internet import tcp
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactor

from ftpkit.server.service import pace_accepts


def test_a_burst_of_connects_is_taken_a_few_per_turn() -> None:
    built: list[Protocol] = []

    class Counting(Factory):
        def buildProtocol(self, addr: object) -> Protocol:
            built.append(Protocol())
            return built[-1]

    port = tcp.Port(0, Counting(), backlog=128, interface="127.0.0.1", reactor=MemoryReactor())
    port.startListening()
    clients = [socket.create_connection(("127.0.0.1", port.getHost().port)) for _ in range(40)]
    try:
        pace_accepts(port, 16)
        port.numberAccepts = 100  # as Twisted grows it after busy turns
        port.doRead()
        assert len(built) == 16  # Twisted alone would have taken all 40 in this turn
        port.doRead()
        port.doRead()
        assert len(built) == 40
    finally:
        for c in clients:
            c.close()
        for p in built:
            p.transport.loseConnection()
        port.socket.close()


def test_other_ports_are_left_alone() -> None:
    class NotTCP:
        def doRead(self) -> None:
            pass

    port = NotTCP()
    pace_accepts(port, 16)
    assert port.doRead.__func__ is NotTCP.doRead  # type: ignore[attr-defined]
