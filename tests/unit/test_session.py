"""The server session over an in-memory transport, driven frame by frame."""

from __future__ import annotations

import errno
import os
import struct
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.defer import Deferred

from ftpkit.commands.base import Command
from ftpkit.commands.registry import CommandRegistry
from ftpkit.plugins import builtins
from ftpkit.protocol.framing import FrameKind, encode_frame
from ftpkit.server.policy import SessionPolicy
from tests.serverkit import Wire


class Boom(Command):
    name = "boom"
    description = "raises"
    requires_login = False

    def run(self, context: Any, args: dict[str, Any]) -> Any:
        raise ZeroDivisionError("secret detail")


class Later(Command):
    """Answers when the test fires its Deferred."""

    name = "later"
    description = "waits"
    requires_login = False

    def __init__(self) -> None:
        self.pending: list[Deferred[dict[str, Any]]] = []

    def run(self, context: Any, args: dict[str, Any]) -> Deferred[dict[str, Any]]:
        d: Deferred[dict[str, Any]] = Deferred()
        self.pending.append(d)
        return d


def registry_with(*extra: Command) -> CommandRegistry:
    return CommandRegistry.of([builtins.login, builtins.logout, builtins.quit,
                               builtins.commands, *extra])


def test_hello_announces_version_and_commands(tmp_path: Path) -> None:
    wire = Wire(tmp_path)
    (hello,) = wire.messages()
    assert hello["type"] == "hello"
    assert hello["protocol"] == 1
    assert hello["server"].startswith("ftpkit/")
    names = [c["name"] for c in hello["commands"]]
    assert {"login", "logout", "quit", "commands"} <= set(names)
    login = next(c for c in hello["commands"] if c["name"] == "login")
    assert login["requires_login"] is False
    assert [a["name"] for a in login["args"]] == ["user", "password"]


def test_login_then_command(tmp_path: Path) -> None:
    wire = Wire(tmp_path)
    wire.messages()
    reply = wire.login()
    assert reply["type"] == "ok" and reply["id"] == 1
    assert reply["result"]["user"] == "alice" and reply["result"]["cwd"] == "/"
    assert (tmp_path / "homes" / "alice").is_dir()
    wire.request("logout")
    assert wire.messages()[0]["type"] == "ok"
    wire.request("logout")
    assert wire.messages()[0]["code"] == "auth_required"


def test_command_needing_login_is_refused_before_login(tmp_path: Path) -> None:
    wire = Wire(tmp_path)
    wire.messages()
    rid = wire.request("logout")
    assert wire.messages() == [{"type": "error", "id": rid, "code": "auth_required",
                                "message": "'logout' needs a login"}]
    assert not wire.transport.disconnecting


def test_unknown_command_keeps_connection(tmp_path: Path) -> None:
    wire = Wire(tmp_path)
    wire.messages()
    wire.request("frobnicate")
    (reply,) = wire.messages()
    assert reply["code"] == "unknown_command"
    wire.request("commands")
    assert wire.messages()[0]["type"] == "ok"


def test_bad_arguments_get_bad_request(tmp_path: Path) -> None:
    wire = Wire(tmp_path)
    wire.messages()
    wire.request("login", user="alice")
    assert wire.messages()[0]["code"] == "bad_request"
    wire.request("login", user=5, password="x")
    assert wire.messages()[0]["code"] == "bad_request"
    assert not wire.transport.disconnecting


def test_wrong_password_answered_after_delay(tmp_path: Path) -> None:
    wire = Wire(tmp_path)
    wire.messages()
    wire.request("login", user="alice", password="nope")
    assert wire.messages() == []  # nothing until the clock moves
    wire.clock.advance(0.99)
    assert wire.messages() == []
    wire.clock.advance(0.01)
    (reply,) = wire.messages()
    assert reply["code"] == "auth_failed"
    assert not wire.transport.disconnecting


def test_unknown_user_refused_like_a_wrong_password(tmp_path: Path) -> None:
    wire = Wire(tmp_path)
    wire.messages()
    wire.request("login", user="mallory", password="nope")
    wire.clock.advance(1)
    (unknown,) = wire.messages()
    wire.request("login", user="alice", password="nope")
    wire.clock.advance(1)
    (wrong,) = wire.messages()
    assert (unknown["code"], unknown["message"]) == (wrong["code"], wrong["message"])


def test_connection_closed_after_max_failures(tmp_path: Path) -> None:
    wire = Wire(tmp_path, policy=SessionPolicy(max_login_failures=2))
    wire.messages()
    wire.request("login", user="alice", password="x")
    wire.clock.advance(1)
    assert wire.messages()[0]["code"] == "auth_failed"
    assert not wire.transport.disconnecting
    wire.request("login", user="alice", password="y")
    wire.clock.advance(1)
    (reply,) = wire.messages()
    assert reply["code"] == "auth_failed"
    assert "closing" in reply["message"]
    assert wire.transport.disconnecting


def test_requests_queued_during_login_delay_wait_their_turn(tmp_path: Path) -> None:
    wire = Wire(tmp_path)
    wire.messages()
    wire.request("login", user="alice", password="x")
    wire.request("login", user="alice", password="alice-pw")
    assert wire.transport.producerState == "paused"  # no reading while busy
    wire.clock.advance(1)
    first, second = wire.messages()
    assert (first["id"], first["code"]) == (1, "auth_failed")
    assert (second["id"], second["type"]) == (2, "ok")
    assert wire.transport.producerState == "producing"


def test_second_login_refused(tmp_path: Path) -> None:
    wire = Wire(tmp_path)
    wire.messages()
    wire.login()
    wire.request("login", user="bob", password="bob-pw")
    assert wire.messages()[0]["code"] == "already_authenticated"


def test_realm_logout_called_when_connection_drops(tmp_path: Path) -> None:
    wire = Wire(tmp_path)
    wire.messages()
    wire.login()
    avatar = wire.session.avatar
    assert avatar is not None and not avatar.logged_out
    wire.session.connectionLost(None)
    assert avatar.logged_out
    assert wire.session not in wire.factory.sessions


def test_quit_answers_then_closes(tmp_path: Path) -> None:
    wire = Wire(tmp_path)
    wire.messages()
    wire.login()
    avatar = wire.session.avatar
    wire.request("quit")
    assert wire.messages()[0]["type"] == "ok"
    assert wire.transport.disconnecting
    assert avatar is not None and avatar.logged_out


def test_exception_in_command_is_internal_error_without_details(tmp_path: Path) -> None:
    wire = Wire(tmp_path, registry=registry_with(Boom()))
    wire.messages()
    wire.request("boom")
    (reply,) = wire.messages()
    assert reply["code"] == "internal_error"
    assert "secret" not in reply["message"] and "Traceback" not in reply["message"]
    wire.request("commands")
    assert wire.messages()[0]["type"] == "ok"


def test_pipelined_requests_answered_in_order(tmp_path: Path) -> None:
    later = Later()
    wire = Wire(tmp_path, registry=registry_with(later))
    wire.messages()
    wire.request("later")
    wire.request("commands")
    wire.request("frobnicate")
    assert wire.messages() == []
    later.pending[0].callback({"n": 1})
    replies = wire.messages()
    assert [r["id"] for r in replies] == [1, 2, 3]
    assert replies[0]["result"] == {"n": 1}


@pytest.mark.parametrize(
    "frame, code",
    [
        (encode_frame(FrameKind.CONTROL, b"\xff\xfe"), "bad_frame"),
        (encode_frame(FrameKind.CONTROL, b"[1, 2]"), "bad_frame"),
        (encode_frame(FrameKind.CONTROL, b'{"type": "request"}'), "bad_frame"),
        (encode_frame(FrameKind.CONTROL, b'{"type": "hello", "protocol": 1, "server": "x",'
                                         b' "commands": []}'), "bad_frame"),
        (encode_frame(FrameKind.DATA, b"data"), "bad_frame"),
        (b"\x00\x00\x00\x02Zx", "bad_frame"),
        (b"GET / HTTP/1.1\r\n\r\n", "frame_too_large"),
        (struct.pack(">I", 2**32 - 1), "frame_too_large"),
    ],
)
def test_malformed_input_gets_error_and_close(tmp_path: Path, frame: bytes, code: str) -> None:
    wire = Wire(tmp_path)
    wire.messages()
    wire.send_raw(frame + encode_frame(FrameKind.CONTROL, b'{"type":"request","id":9,'
                                                          b'"command":"commands"}'))
    replies = wire.messages()
    assert [(r["type"], r["id"], r["code"]) for r in replies] == [("error", None, code)]
    assert wire.transport.disconnecting
    assert wire.session.bufferedBytes == 0


def test_frame_limit_is_smaller_before_login(tmp_path: Path) -> None:
    policy = SessionPolicy(max_frame=256 * 1024, preauth_max_frame=1024)
    wire = Wire(tmp_path, policy=policy)
    wire.messages()
    wire.login()
    assert wire.session.MAX_LENGTH == 256 * 1024
    wire.request("logout")
    wire.messages()
    wire.send_raw(struct.pack(">I", 2048))
    assert wire.messages()[0]["code"] == "frame_too_large"


def test_frames_written_during_a_zero_copy_send_wait_for_its_end(tmp_path: Path) -> None:
    wire = Wire(tmp_path)
    wire.messages()
    wire.session.holdWrites()  # a raw send owns the socket now
    wire.request("pwd")  # answered at once, before login: auth_required
    assert wire.transport.value()[wire._read:] == b""  # held back, not interleaved
    wire.session.releaseWrites()
    (reply,) = wire.messages()
    assert reply["type"] == "error" and reply["code"] == "auth_required"

class Sink:
    def __init__(self) -> None:
        self.lost_calls = 0

    def data(self, chunk: bytes) -> None:
        raise AssertionError("no data can come")

    def end(self, checksum: str | None, abort: bool) -> None:
        raise AssertionError("no end can come")

    def lost(self) -> None:
        self.lost_calls += 1


def test_an_upload_starting_after_the_client_left_is_told_at_once(tmp_path: Path) -> None:
    """Else its put would wait for data forever, holding its staging and reservation."""
    wire = Wire(tmp_path)
    wire.session.connectionLost(None)
    sink = Sink()
    wire.session.routeData(1, sink)
    assert sink.lost_calls == 1


class Refused(Command):
    """Fails as storage does when the OS refuses (read-only, immutable, full)."""

    name = "refused"
    description = "raises an OSError"
    requires_login = False

    def __init__(self) -> None:
        self.errno = errno.EROFS

    def run(self, context: Any, args: dict[str, Any]) -> Any:
        raise OSError(self.errno, os.strerror(self.errno), "/srv/homes/alice/secret")


@pytest.mark.parametrize("number, code", [
    (errno.EROFS, "permission_denied"), (errno.EACCES, "permission_denied"),
    (errno.EPERM, "permission_denied"), (errno.ENOSPC, "storage_full"),
    (errno.EDQUOT, "storage_full"),
])
def test_storage_refusals_get_a_clear_code(tmp_path: Path, number: int, code: str) -> None:
    refused = Refused()
    refused.errno = number
    wire = Wire(tmp_path, registry=registry_with(refused))
    wire.messages()
    reply = wire.ask("refused")
    assert reply["code"] == code
    assert "/srv" not in reply["message"] and "Traceback" not in reply["message"]
    assert wire.ok("commands")


def test_unknown_user_answered_after_the_same_delay(tmp_path: Path) -> None:
    wire = Wire(tmp_path)
    wire.messages()
    for user in ("mallory", "alice"):
        wire.request("login", user=user, password="nope")
        wire.clock.advance(0.99)
        assert wire.messages() == []
        wire.clock.advance(0.01)
        assert wire.messages()[0]["code"] == "auth_failed"
