"""
The client side of a connection: sends requests, matches responses by id.

test-case-name: tests.unit.test_client
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from ftpkit.client.tls import TLSError, tls_error
from ftpkit.protocol.framing import FrameReceiver
from ftpkit.protocol.messages import (
    PROTOCOL_VERSION,
    Continue,
    End,
    ErrorReply,
    Hello,
    MessageError,
    Request,
    Success,
    decode_message,
    encode_message,
)
from ftpkit.transfer import WriteGate


class RemoteError(Exception):
    """The server answered a request with an error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ConnectionClosed(Exception):
    """The connection ended before the answer came."""


class ProtocolError(Exception):
    """The server sent something this client does not understand."""


class ClientProtocol(FrameReceiver):
    MAX_LENGTH = 16 * 1024 * 1024

    def __init__(self) -> None:
        super().__init__()
        self.hello: Deferred[Hello] = Deferred()
        self._waiting: dict[int, Deferred[dict[str, Any]]] = {}
        self._interim: dict[int, Callable[[dict[str, Any]], None]] = {}
        self._next_id = 1
        self._closing_error: Exception | None = None
        self.gate = WriteGate()
        self.data_sink: Callable[[bytes | memoryview], None] | None = None  # the running download's

    def connectionMade(self) -> None:
        self.tuneTransport()
        self.transport.registerProducer(self.gate, True)

    def call(self, command: str, args: dict[str, Any] | None = None,
             interim: Callable[[dict[str, Any]], None] | None = None
             ) -> Deferred[dict[str, Any]]:
        """
        Send one request; fires with the result dict or fails with L{RemoteError}.
        C{interim} is called with the result of a 'continue' answer (transfers).
        """
        if self._closing_error is not None:
            raise ConnectionClosed(str(self._closing_error))
        rid = self._next_id
        self._next_id += 1
        d: Deferred[dict[str, Any]] = Deferred()
        self._waiting[rid] = d
        if interim is not None:
            self._interim[rid] = interim
        self.sendControl(encode_message(Request(rid, command, args or {})))
        return d

    @property
    def last_id(self) -> int:
        return self._next_id - 1

    def send_end(self, request_id: int, checksum: str | None = None, abort: bool = False) -> None:
        """End an upload's data: the whole file's checksum, or abort."""
        if self._closing_error is None:
            self.sendControl(encode_message(End(request_id, checksum, abort)))

    def controlReceived(self, body: bytes) -> None:
        try:
            message = decode_message(body)
        except MessageError as e:
            self._fail_connection(ProtocolError(f"bad message from server: {e}"))
            return
        match message:
            case Hello():
                if message.protocol != PROTOCOL_VERSION:
                    self._fail_connection(ProtocolError(
                        f"server speaks protocol {message.protocol}; this client speaks "
                        f"{PROTOCOL_VERSION}"))
                elif not self.hello.called:
                    self.hello.callback(message)
            case Success(rid, result):
                self._interim.pop(rid, None)
                self._answer(rid, result)
            case Continue(rid, result):
                callback = self._interim.get(rid)
                if callback is None:
                    self._fail_connection(ProtocolError(f"unexpected continue for {rid}"))
                else:
                    callback(result)
            case ErrorReply(None, code, text):
                # about the connection itself: the server is about to close it
                self._closing_error = RemoteError(code, text)
            case ErrorReply(rid, code, text) if rid is not None:
                self._interim.pop(rid, None)
                self._answer(rid, RemoteError(code, text))
            case _:
                self._fail_connection(ProtocolError("server sent a request"))

    def _answer(self, rid: int | None, outcome: dict[str, Any] | Exception) -> None:
        d = self._waiting.pop(rid, None) if rid is not None else None
        if d is None:
            self._fail_connection(ProtocolError(f"answer to unknown request {rid}"))
        elif isinstance(outcome, Exception):
            d.errback(outcome)
        else:
            d.callback(outcome)

    def dataPieceReceived(self, piece: bytes | memoryview, last: bool) -> None:
        if self.data_sink is None:
            self._fail_connection(ProtocolError("unexpected data frame"))
        else:
            self.data_sink(piece)

    def frameError(self, reason: str) -> None:
        self._fail_connection(ProtocolError(reason))

    def lengthLimitExceeded(self, length: int) -> None:
        self._fail_connection(ProtocolError(f"frame of {length} bytes is too large"))

    def _fail_connection(self, error: Exception) -> None:
        self._closing_error = error
        self.stopFrames()
        self.transport.loseConnection()

    def connectionLost(self, reason: Failure | None = None) -> None:
        error = (self._closing_error or tls_error(reason)
                 or ConnectionClosed("the server closed the connection"))
        if not isinstance(error, RemoteError | ProtocolError | ConnectionClosed | TLSError):
            error = ConnectionClosed(str(error))
        self._closing_error = error
        self.gate.lost(error)
        if not self.hello.called:
            self.hello.errback(error)
        waiting, self._waiting = self._waiting, {}
        for d in waiting.values():
            d.errback(error)
