"""
Test helpers: a server factory wired to in-memory pieces (a Clock, inline threads, a
cheap hasher, a temporary user database), and a fired-Deferred reader.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from twisted.cred.portal import Portal
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from ftpkit.auth.checker import UserDBChecker
from ftpkit.auth.passwords import PasswordHasher
from ftpkit.auth.realm import Realm
from ftpkit.auth.userdb import UserDB
from ftpkit.commands.registry import CommandRegistry
from ftpkit.protocol.framing import FrameKind, encode_frame
from ftpkit.server.factory import ServerFactory
from ftpkit.server.limits import Limits
from ftpkit.server.policy import SessionPolicy
from ftpkit.server.session import ServerSession
from ftpkit.threads import InlineThreads

HASHER = PasswordHasher.cheap()


def make_users(tmp: Path, **users: str) -> UserDB:
    db = UserDB(tmp / "users.sqlite")
    db.create()
    for name, password in users.items():
        db.add(name, HASHER.hash(password), None, None)
    return db


def make_factory(tmp: Path, registry: CommandRegistry | None = None,
                 policy: SessionPolicy | None = None, clock: Clock | None = None,
                 users: UserDB | None = None, limits: Limits | None = None) -> ServerFactory:
    threads = InlineThreads()
    users = users or make_users(tmp, alice="alice-pw", bob="bob-pw")
    root = tmp / "homes"
    root.mkdir(exist_ok=True)
    portal = Portal(Realm(users, root, threads), [UserDBChecker(users, HASHER, threads)])
    return ServerFactory(registry or CommandRegistry.from_plugins(), portal, clock or Clock(),
                         threads, policy or SessionPolicy(), limits=limits or Limits())


class Wire:
    """A session on a StringTransport; sends requests and reads what came back."""

    def __init__(self, tmp: Path, factory: ServerFactory | None = None,
                 peer: str = "192.0.2.1", **kw: Any) -> None:
        self.factory = factory or make_factory(tmp, clock=kw.pop("clock", Clock()), **kw)
        self.clock = self.factory.clock
        self.session: ServerSession = self.factory.buildProtocol(None)
        self.transport = StringTransport(peerAddress=IPv4Address("TCP", peer, 40000))
        self.session.makeConnection(self.transport)
        self._read = 0
        self._next_id = 1

    def send_raw(self, data: bytes) -> None:
        self.session.dataReceived(data)

    def request(self, command: str, **args: Any) -> int:
        rid = self._next_id
        self._next_id += 1
        body = json.dumps({"type": "request", "id": rid, "command": command, "args": args})
        self.send_raw(encode_frame(FrameKind.CONTROL, body.encode()))
        return rid

    def frames(self) -> list[tuple[int, bytes]]:
        """(kind, body) of every frame written since the last call."""
        data = self.transport.value()[self._read:]
        self._read += len(data)
        out = []
        while data:
            (length,) = struct.unpack(">I", data[:4])
            out.append((data[4], data[5:4 + length]))
            data = data[4 + length:]
        return out

    def messages(self) -> list[dict[str, Any]]:
        """Control messages written since the last call (there must be no data frames)."""
        frames = self.frames()
        assert all(kind == FrameKind.CONTROL for kind, _ in frames)
        return [json.loads(body) for _, body in frames]

    def send_data(self, data: bytes) -> None:
        self.send_raw(encode_frame(FrameKind.DATA, data))

    def send_end(self, rid: int, checksum: str | None = None, abort: bool = False) -> None:
        end: dict[str, Any] = {"type": "end", "id": rid}
        end.update({"abort": True} if abort else {"checksum": checksum})
        self.send_raw(encode_frame(FrameKind.CONTROL, json.dumps(end).encode()))

    def another(self, tmp: Path, peer: str = "192.0.2.1") -> Wire:
        """A second connection to the same server."""
        return Wire(tmp, factory=self.factory, peer=peer)

    def login(self, user: str = "alice", password: str = "alice-pw") -> dict[str, Any]:
        self.request("login", user=user, password=password)
        (reply,) = self.messages()
        return reply

    def ask(self, command: str, **args: Any) -> dict[str, Any]:
        """One request and its one answer (for commands that answer at once)."""
        self.request(command, **args)
        (reply,) = self.messages()
        return reply

    def ok(self, command: str, **args: Any) -> dict[str, Any]:
        reply = self.ask(command, **args)
        assert reply["type"] == "ok", reply
        result: dict[str, Any] = reply["result"]
        return result

    def error(self, command: str, **args: Any) -> str:
        reply = self.ask(command, **args)
        assert reply["type"] == "error", reply
        code: str = reply["code"]
        return code


def result_of(d: Deferred[Any]) -> Any:
    """The result of an already-fired Deferred; raises its failure's exception."""
    box: list[Any] = []
    d.addBoth(box.append)
    assert box, "the Deferred has not fired"
    if isinstance(box[0], Failure):
        box[0].raiseException()
    return box[0]
