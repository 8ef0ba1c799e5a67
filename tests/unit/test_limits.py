"""Server-wide limits, bans and session timeouts, over in-memory sessions and a Clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from twisted.internet.task import Clock

from ftpkit.protocol.errors import CommandError
from ftpkit.protocol.framing import FrameKind, encode_frame
from ftpkit.server.config import ConfigError, ServerConfig
from ftpkit.server.limits import BAN_TABLE_SIZE, Gate, Limits
from ftpkit.server.policy import SessionPolicy
from tests.serverkit import Wire
from tests.unit.test_session import Later, registry_with


def fatal(wire: Wire) -> tuple[str, bool]:
    """The one connection-level error the session sent, and whether it is closing."""
    (reply,) = wire.messages()
    assert (reply["type"], reply["id"]) == ("error", None), reply
    return reply["code"], wire.transport.disconnecting


def connected(tmp: Path, **kw: Any) -> Wire:
    wire = Wire(tmp, **kw)
    (hello,) = wire.messages()
    assert hello["type"] == "hello"
    return wire


# -- connections ------------------------------------------------------------------


def test_connections_are_limited_in_total_and_per_ip(tmp_path: Path) -> None:
    first = connected(tmp_path, limits=Limits(max_connections=3, max_connections_per_ip=2))
    first.another(tmp_path).messages()
    third = first.another(tmp_path)  # a third from the same address
    assert fatal(third) == ("too_many_connections", True)
    other = first.another(tmp_path, peer="198.51.100.7")  # another address still gets in
    assert other.messages()[0]["type"] == "hello"
    fourth = first.another(tmp_path, peer="198.51.100.8")  # but the total is reached
    assert fatal(fourth) == ("too_many_connections", True)
    assert first.factory.gate.connections == 3
    # refused connections were never counted, so closing them changes nothing
    third.session.connectionLost(None)
    fourth.session.connectionLost(None)
    assert first.factory.gate.connections == 3
    first.session.connectionLost(None)
    again = first.another(tmp_path)
    assert again.messages()[0]["type"] == "hello"


def test_limits_default_as_documented() -> None:
    limits = Limits()
    assert (limits.max_connections, limits.max_connections_per_ip) == (1000, 50)
    assert (limits.login_timeout, limits.idle_timeout) == (30, 600)
    assert (limits.max_sessions_per_user, limits.max_transfers_per_user) == (16, 4)
    assert (limits.ban_failures, limits.ban_window, limits.ban_duration) == (10, 600, 600)
    assert limits.shutdown_grace == 30


# -- failed logins and bans ---------------------------------------------------------


def fail_login(wire: Wire) -> dict[str, Any]:
    wire.request("login", user="alice", password="wrong")
    wire.clock.advance(1)  # type: ignore[attr-defined]
    (reply,) = wire.messages()
    return reply


def test_an_ip_is_banned_after_repeated_failures_and_unbanned_later(tmp_path: Path) -> None:
    limits = Limits(ban_failures=4, ban_window=60, ban_duration=300)
    wire = connected(tmp_path, limits=limits, policy=SessionPolicy(max_login_failures=3))
    for _ in range(3):
        assert fail_login(wire)["code"] == "auth_failed"
    assert wire.transport.disconnecting  # the per-connection limit
    wire.session.connectionLost(None)
    second = wire.another(tmp_path)
    second.messages()
    reply = fail_login(second)  # the 4th from this address: banned from now on
    assert reply["code"] == "auth_failed" and "closing" in reply["message"]
    assert second.transport.disconnecting
    second.session.connectionLost(None)

    refused = wire.another(tmp_path)
    assert fatal(refused) == ("banned", True)
    elsewhere = wire.another(tmp_path, peer="198.51.100.9")  # other addresses are not
    elsewhere.messages()
    assert elsewhere.login()["type"] == "ok"

    wire.clock.advance(301)  # type: ignore[attr-defined]
    later = wire.another(tmp_path)
    later.messages()
    assert later.login()["type"] == "ok"


def test_a_ban_during_a_session_refuses_its_login_before_the_password(tmp_path: Path) -> None:
    limits = Limits(ban_failures=2)
    wire = connected(tmp_path, limits=limits)
    other = wire.another(tmp_path)
    other.messages()
    assert fail_login(wire)["code"] == "auth_failed"
    assert fail_login(other)["code"] == "auth_failed"  # the 2nd: banned
    # the first connection is still open; even the right password is not checked now
    rid = wire.request("login", user="alice", password="alice-pw")
    assert wire.messages() == [{"type": "error", "id": rid, "code": "banned",
                                "message": "too many failed logins from this address; "
                                           "try later"}]
    assert wire.transport.disconnecting


def test_failures_outside_the_window_do_not_add_up() -> None:
    clock = Clock()
    gate = Gate(Limits(ban_failures=3, ban_window=10), clock)
    for _ in range(5):
        assert not gate.login_failed("192.0.2.1")
        assert not gate.login_failed("192.0.2.1")
        clock.advance(10)
    assert not gate.banned("192.0.2.1")
    gate.login_failed("192.0.2.1")
    gate.login_failed("192.0.2.1")
    assert gate.login_failed("192.0.2.1")
    assert gate.banned("192.0.2.1")


def test_the_ban_table_is_bounded() -> None:
    gate = Gate(Limits(ban_failures=1), Clock())
    for i in range(BAN_TABLE_SIZE + 10):
        gate.login_failed(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")
    assert gate.tracked_ips == BAN_TABLE_SIZE
    assert not gate.banned("10.0.0.0")  # the oldest was forgotten
    assert gate.banned("10.1.134.169")  # the newest was not


def test_unknown_and_known_users_fail_alike_also_when_banned(tmp_path: Path) -> None:
    wire = connected(tmp_path, limits=Limits(ban_failures=2))
    wire.request("login", user="nobody", password="x")
    wire.clock.advance(1)  # type: ignore[attr-defined]
    wire.request("login", user="alice", password="x")
    wire.clock.advance(1)  # type: ignore[attr-defined]
    unknown, known = wire.messages()
    assert unknown["code"] == known["code"] == "auth_failed"
    assert unknown["message"] == "wrong user name or password"
    assert known["message"].startswith(unknown["message"])  # plus "closing": banned now


# -- timeouts ---------------------------------------------------------------------


def test_a_connection_that_does_not_log_in_is_closed(tmp_path: Path) -> None:
    wire = connected(tmp_path, limits=Limits(login_timeout=30, idle_timeout=0))
    frame = encode_frame(FrameKind.CONTROL, b'{"type":"request","id":1,"command":"login",'
                                            b'"args":{"user":"alice","password":"alice-pw"}}')
    for i in range(29):  # trickling a login a byte at a time does not help
        wire.send_raw(frame[i:i + 1])
        wire.clock.advance(1)  # type: ignore[attr-defined]
    assert wire.messages() == []
    wire.clock.advance(1)  # type: ignore[attr-defined]
    assert fatal(wire) == ("login_timeout", True)
    wire.clock.advance(5)  # type: ignore[attr-defined]
    assert wire.transport.disconnected  # aborted if the client did not take the error


def test_the_login_timeout_stops_at_login_and_restarts_at_logout(tmp_path: Path) -> None:
    wire = connected(tmp_path, limits=Limits(login_timeout=10, idle_timeout=0))
    wire.clock.advance(9)  # type: ignore[attr-defined]
    wire.login()
    wire.clock.advance(100)  # type: ignore[attr-defined]
    assert wire.messages() == [] and not wire.transport.disconnecting
    wire.ok("logout")
    wire.clock.advance(10)  # type: ignore[attr-defined]
    assert fatal(wire) == ("login_timeout", True)


def test_an_idle_session_is_closed_and_activity_keeps_it(tmp_path: Path) -> None:
    wire = connected(tmp_path, limits=Limits(login_timeout=0, idle_timeout=60))
    wire.login()
    for _ in range(10):
        wire.clock.advance(50)  # type: ignore[attr-defined]
        wire.ok("commands")
    wire.clock.advance(59)  # type: ignore[attr-defined]
    assert wire.messages() == []
    wire.clock.advance(1)  # type: ignore[attr-defined]
    assert fatal(wire) == ("idle_timeout", True)


def test_sending_data_is_activity(tmp_path: Path) -> None:
    wire = connected(tmp_path, limits=Limits(login_timeout=0, idle_timeout=60))
    for _ in range(5):
        wire.clock.advance(50)  # type: ignore[attr-defined]
        wire.session.sendData(b"x")  # what a download making progress does
    wire.frames()
    wire.clock.advance(60)  # type: ignore[attr-defined]
    assert fatal(wire) == ("idle_timeout", True)


# -- sessions and transfers per user -----------------------------------------------


def test_sessions_per_user_are_limited(tmp_path: Path) -> None:
    wire = connected(tmp_path, limits=Limits(max_sessions_per_user=2))
    assert wire.login()["type"] == "ok"
    second = wire.another(tmp_path)
    second.messages()
    assert second.login()["type"] == "ok"
    third = wire.another(tmp_path)
    third.messages()
    reply = third.login()
    assert reply["code"] == "too_many_sessions"
    assert not third.transport.disconnecting  # a per-request error
    assert third.login("bob", "bob-pw")["type"] == "ok"  # other users are not affected
    wire.ok("logout")
    fourth = wire.another(tmp_path)
    fourth.messages()
    assert fourth.login()["type"] == "ok"
    second.session.connectionLost(None)
    assert third.ask("logout")["type"] == "ok"
    assert third.login()["type"] == "ok"


class Transfer(Later):
    """A transfer that runs until the test ends it."""

    name = "xfer"
    description = "a pretend transfer"
    requires_login = True
    transfer = True


def test_transfers_per_user_are_limited(tmp_path: Path) -> None:
    xfer = Transfer()
    wire = connected(tmp_path, registry=registry_with(xfer),
                     limits=Limits(max_transfers_per_user=2))
    wires = [wire, wire.another(tmp_path), wire.another(tmp_path)]
    for w in wires[1:]:
        w.messages()
    for w in wires:
        w.login()
    wires[0].request("xfer")
    wires[1].request("xfer")
    assert len(xfer.pending) == 2
    reply = wires[2].ask("xfer")
    assert reply["code"] == "too_many_transfers"
    assert "maximum of 2 transfers" in reply["message"]
    xfer.pending[0].callback({})
    assert wires[0].messages()[0]["type"] == "ok"
    wires[2].request("xfer")
    assert len(xfer.pending) == 3
    wires[1].session.connectionLost(None)  # a transfer abandoned by its client
    xfer.pending[1].errback(CommandError("aborted", "gone"))
    assert wire.factory.gate.transfers == 1


def test_the_session_knows_its_transfers(tmp_path: Path) -> None:
    xfer = Transfer()
    wire = connected(tmp_path, registry=registry_with(xfer))
    wire.login()
    wire.request("xfer")
    assert wire.session.transfers == 1
    xfer.pending[0].callback({})
    assert wire.session.transfers == 0


# -- shutdown ------------------------------------------------------------------------


def test_shutdown_closes_idle_sessions_and_lets_commands_finish(tmp_path: Path) -> None:
    xfer = Transfer()
    idle = connected(tmp_path, registry=registry_with(xfer))
    busy = idle.another(tmp_path)
    busy.messages()
    busy.login()
    busy.request("xfer")
    idle.session.shutdown()
    busy.session.shutdown()
    assert fatal(idle) == ("shutting_down", True)
    assert not busy.transport.disconnecting
    xfer.pending[0].callback({"done": True})
    assert busy.messages()[0]["result"] == {"done": True}
    assert busy.transport.disconnecting


# -- configuration -------------------------------------------------------------------


def test_limits_are_read_from_the_config() -> None:
    config = ServerConfig.from_mapping({"limits": {
        "max_connections": 5000, "max_connections_per_ip": 2000, "login_timeout": 5,
        "idle_timeout": 0, "max_sessions_per_user": 2000, "max_transfers_per_user": 1,
        "ban_failures": 3, "ban_window": 60.5, "ban_duration": 0, "shutdown_grace": 2}})
    assert config.limits == Limits(5000, 2000, 5.0, 0.0, 2000, 1, 3, 60.5, 0.0, 2.0)
    assert ServerConfig.from_mapping({}).limits == Limits()


@pytest.mark.parametrize("key, value", [
    ("max_connections", 0), ("max_connections_per_ip", "many"), ("login_timeout", -1),
    ("idle_timeout", float("inf")), ("max_transfers_per_user", True), ("ban_failures", 1.5),
])
def test_bad_limits_stop_startup(key: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=f"limits.{key}"):
        ServerConfig.from_mapping({"limits": {key: value}})


def test_the_example_config_documents_every_limit() -> None:
    path = Path(__file__).parents[2] / "conf" / "ftpkit.toml"
    config = ServerConfig.from_toml(path)
    assert config.limits == Limits()
    text = path.read_text()
    for key in Limits.__attrs_attrs__:
        assert f"\n{key.name} = " in text, key.name
