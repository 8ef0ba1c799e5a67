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


def test_transfers_finish_within_the_grace(tmp_path: Path) -> None:
    xfer, idle, busy = start(tmp_path)
    done = stopping(idle, 30)
    assert fatal(idle) == ("shutting_down", True)  # idle sessions go at once
    assert not busy.transport.disconnecting and not done.called
    idle.clock.advance(29)  # type: ignore[attr-defined]
    xfer.pending[0].callback({"ok": 1})
    assert busy.messages()[0]["result"] == {"ok": 1}  # the answer, then the close
    assert busy.transport.disconnecting
    assert done.called


def test_transfers_still_running_after_the_grace_are_cut(tmp_path: Path) -> None:
    xfer, idle, busy = start(tmp_path)
    done = stopping(idle, 30)
    idle.clock.advance(30)  # type: ignore[attr-defined]
    assert busy.transport.disconnected  # aborted, not waiting for the client to read
    assert not done.called  # the cut transfer tidies up first (in the real put: staging kept)
    busy.session.connectionLost(None)
    xfer.pending[0].errback(Exception("aborted"))
    assert done.called


def test_a_transfer_that_never_ends_is_given_up_on(tmp_path: Path) -> None:
    _, idle, _ = start(tmp_path)
    done = stopping(idle, 1)
    idle.clock.advance(1)  # type: ignore[attr-defined]
    assert not done.called
    idle.clock.advance(TIDY)  # type: ignore[attr-defined]
    assert done.called


def test_nothing_to_wait_for(tmp_path: Path) -> None:
    wire = Wire(tmp_path)
    assert stopping(wire, 30).called
