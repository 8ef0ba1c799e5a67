"""Graceful shutdown of the sessions, driven by a Clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred

from ftpkit.server.shutdown import TIDY, drain
from tests.serverkit import Wire
from tests.unit.test_limits import Transfer, fatal
from tests.unit.test_session import registry_with


def start(tmp: Path) -> tuple[Transfer, Wire, Wire]:
    xfer = Transfer()
    idle = Wire(tmp, registry=registry_with(xfer))
    busy = idle.another(tmp)
    idle.messages()
    busy.messages()
    busy.login()
    busy.request("xfer")
    return xfer, idle, busy


def stopping(wire: Wire, grace: float) -> Deferred[Any]:
    return Deferred.fromCoroutine(drain(wire.factory, grace, wire.clock))


def gone(*wires: Wire) -> None:
    """What the reactor does for a transport that was told to close."""
    for wire in wires:
        assert wire.transport.disconnecting
        wire.session.connectionLost(None)


def test_transfers_finish_within_the_grace(tmp_path: Path) -> None:
    xfer, idle, busy = start(tmp_path)
    done = stopping(idle, 30)
    assert fatal(idle) == ("shutting_down", True)  # idle sessions go at once
    gone(idle)
    assert not busy.transport.disconnecting and not done.called
    idle.clock.advance(29)  # type: ignore[attr-defined]
    xfer.pending[0].callback({"ok": 1})
    answer, bye = busy.messages()  # the answer, then the close
    assert answer["result"] == {"ok": 1}
    assert (bye["id"], bye["code"]) == (None, "shutting_down")
    idle.clock.advance(0)  # type: ignore[attr-defined]
    assert not busy.transport.disconnected  # not cut: the answer is being handed over
    gone(busy)
    assert done.called


def test_transfers_still_running_after_the_grace_are_cut(tmp_path: Path) -> None:
    xfer, idle, busy = start(tmp_path)
    done = stopping(idle, 30)
    gone(idle)
    idle.clock.advance(30)  # type: ignore[attr-defined]
    assert busy.transport.disconnected  # aborted, not waiting for the client to read
    idle.clock.advance(0)  # type: ignore[attr-defined]
    gone(busy)
    assert not done.called  # the cut transfer tidies up first (in the real put: staging kept)
    xfer.pending[0].errback(Exception("aborted"))
    assert done.called


def test_a_session_that_does_not_go_is_cut_and_a_transfer_that_never_ends_given_up_on(
        tmp_path: Path) -> None:
    _, idle, busy = start(tmp_path)
    done = stopping(idle, 1)
    idle.clock.advance(1)  # type: ignore[attr-defined]
    idle.clock.advance(0)  # type: ignore[attr-defined]
    idle.clock.advance(TIDY)  # type: ignore[attr-defined]
    assert idle.transport.disconnected and busy.transport.disconnected
    assert not done.called
    idle.clock.advance(TIDY)  # type: ignore[attr-defined]
    assert done.called


def test_nothing_to_wait_for(tmp_path: Path) -> None:
    wire = Wire(tmp_path)
    done = stopping(wire, 30)
    gone(wire)
    wire.clock.advance(0)  # type: ignore[attr-defined]
    assert done.called
