"""
Shared pieces of the fuzz tests: one server factory for a whole module (a fresh one
per example would cost a user database each), a probe that feeds a session the way
a real transport would, and the checks every input must pass.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from ftpkit.protocol.errors import ErrorCode
from ftpkit.server.factory import ServerFactory
from ftpkit.server.limits import Limits
from ftpkit.server.policy import SessionPolicy
from tests.serverkit import Wire, make_factory

KNOWN_CODES = {code.value for code in ErrorCode}
READ = 65536  # bytes a real transport hands over per read, at most (Twisted's default)
# Fuzzed logins fail often; bans and delays would only slow the fuzzing down.
POLICY = SessionPolicy(login_failure_delay=0, max_login_failures=1000,
                       preauth_max_frame=4096, max_frame=64 * 1024)
LIMITS = Limits(ban_duration=0, login_timeout=0, idle_timeout=0)


def fuzz_factory(tmp: Path) -> ServerFactory:
    return make_factory(tmp, policy=POLICY, limits=LIMITS)


class Probe:
    """One connection to C{factory}, fed input and checked after every read."""

    def __init__(self, tmp: Path, factory: ServerFactory) -> None:
        self.wire = Wire(tmp, factory=factory)
        self.frames: list[tuple[int, bytes]] = []
        self.fatal: dict[str, Any] | None = None
        self.take()
        assert self.frames[0][0] == 0x43
        assert json.loads(self.frames[0][1])["type"] == "hello"

    @property
    def session(self) -> Any:
        return self.wire.session

    def feed(self, data: bytes, chunk: int = READ) -> None:
        """Hand C{data} over as a transport would: in reads, none while paused."""
        transport = self.wire.transport
        for start in range(0, len(data), chunk):
            if transport.disconnecting or transport.producerState != "producing":
                return  # a real transport would not read now
            self.session.dataReceived(data[start:start + chunk])
            self.wire.clock.advance(0)  # type: ignore[attr-defined]
            self.take()
            limit = self.session.MAX_LENGTH + 4 + chunk
            assert self.session.bufferedBytes <= limit, "buffered beyond one frame and a read"

    def login(self) -> None:
        self.wire.request("login", user="alice", password="alice-pw")
        self.take()
        assert self.session.avatar is not None

    def take(self) -> None:
        """Read and check what the server sent since the last call."""
        for kind, body in self.wire.frames():
            assert kind in (0x43, 0x44), f"unknown frame kind {kind}"
            self.frames.append((kind, body))
            if kind == 0x44:
                continue
            message = json.loads(body)
            assert isinstance(message, dict)
            assert message["type"] in ("hello", "ok", "error", "continue"), message
            if message["type"] == "error":
                check_error(message)
                if message["id"] is None:
                    assert self.fatal is None, "two connection-level errors"
                    self.fatal = message
                    assert self.wire.transport.disconnecting

    def errors(self) -> list[dict[str, Any]]:
        return [m for m in self.messages() if m["type"] == "error"]

    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(body) for kind, body in self.frames if kind == 0x43]

    def close(self) -> None:
        self.session.connectionLost(None)


def check_error(message: dict[str, Any]) -> None:
    assert message["code"] in KNOWN_CODES, message
    text = message["message"]
    assert isinstance(text, str)
    for leak in ("Traceback", 'File "', "/homes/", "Error:"):
        assert leak not in text, message


def still_serves(tmp: Path, factory: ServerFactory) -> None:
    """Another session on the same server works, and nothing is left counted."""
    other = Probe(tmp, factory)
    other.wire.request("commands")
    other.take()
    assert other.messages()[-1]["type"] == "ok"
    other.close()
    assert factory.gate.connections == 0
    assert factory.gate.transfers == 0


def frame(kind: int, body: bytes) -> bytes:
    return struct.pack(">IB", len(body) + 1, kind) + body


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64), 2**64) | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
