"""The client protocol and library against a real session, over iosim's in-memory pump."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from twisted.test.iosim import connect, makeFakeClient, makeFakeServer

from ftpkit.cli.actions import parse_call_args
from ftpkit.cli.exits import UsageError
from ftpkit.client.api import Client
from ftpkit.client.protocol import ClientProtocol, ConnectionClosed, ProtocolError, RemoteError
from ftpkit.protocol.framing import FrameKind, encode_frame
from ftpkit.protocol.messages import ArgInfo, CommandInfo
from ftpkit.threads import InlineThreads
from tests.serverkit import make_factory, result_of


class Pair:
    def __init__(self, tmp: Path) -> None:
        self.factory = make_factory(tmp)
        self.server = self.factory.buildProtocol(None)  # type: ignore[arg-type]
        self.protocol = ClientProtocol()
        self.pump = connect(self.server, makeFakeServer(self.server),
                            self.protocol, makeFakeClient(self.protocol), greet=False)
        self.pump.flush()
        self.client = Client(self.protocol, result_of(self.protocol.hello),
                             self.factory.clock, InlineThreads())

    def run(self, d: Any) -> Any:
        self.pump.flush()
        self.factory.clock.advance(5)  # type: ignore[attr-defined]
        self.pump.flush()
        return result_of(d)


def test_login_and_list_commands(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    assert pair.client.command_info("login") is not None
    assert pair.run(pair.client.login("alice", "alice-pw")) == {
        "user": "alice", "cwd": "/", "used": 0, "limit": None, "free": None, "files": 0}
    names = [c["name"] for c in pair.run(pair.client.commands())]
    assert names == sorted(names) and "commands" in names


def test_remote_error_carries_code(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    with pytest.raises(RemoteError) as e:
        pair.run(pair.client.login("alice", "wrong"))
    assert e.value.code == "auth_failed"
    with pytest.raises(RemoteError) as e:
        pair.run(pair.client.call("nope"))
    assert e.value.code == "unknown_command"


def test_waiting_calls_fail_when_connection_closes(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    pair.run(pair.client.login("alice", "alice-pw"))
    d = pair.client.quit()
    pair.pump.flush()
    assert result_of(d) == {}
    with pytest.raises(ConnectionClosed):
        pair.client.call("commands")


def test_connection_level_error_reported_to_waiting_calls(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    pair.protocol.transport.write(encode_frame(FrameKind.DATA, b"junk"))
    d = pair.protocol.call("commands")
    pair.pump.flush()
    with pytest.raises(RemoteError) as e:
        result_of(d)
    assert e.value.code == "bad_frame"


def test_client_rejects_a_server_speaking_another_version() -> None:
    from twisted.internet.testing import StringTransport

    protocol = ClientProtocol()
    protocol.makeConnection(StringTransport())
    protocol.dataReceived(encode_frame(
        FrameKind.CONTROL, b'{"type":"hello","protocol":99,"server":"x","commands":[]}'))
    protocol.connectionLost(None)
    with pytest.raises(ProtocolError, match="protocol 99"):
        result_of(protocol.hello)


def test_call_arguments_are_typed_by_the_servers_declaration() -> None:
    info = CommandInfo("x", "", True, (ArgInfo("n", "int", True), ArgInfo("f", "bool", False),
                                        ArgInfo("s", "str", True), ArgInfo("v", "any", False)))
    assert parse_call_args(["n=3", "f=yes", "s=12", "v=[1]", "j:={\"a\":1}"], info) == {
        "n": 3, "f": True, "s": "12", "v": [1], "j": {"a": 1}}
    assert parse_call_args(["a=b=c"], None) == {"a": "b=c"}
    for bad in (["n=x"], ["f=maybe"], ["novalue"], ["j:={"]):
        with pytest.raises(UsageError):
            parse_call_args(bad, info)
