"""
Int32 framing with a one-byte frame kind, parsed in linear time.

test-case-name: tests.unit.test_framing

Every frame on the wire is::

    +----------------+--------+----------------------+
    | length: uint32 | kind   | body: length-1 bytes |
    | big-endian     | 1 byte |                      |
    +----------------+--------+----------------------+

C{length} counts the kind byte and the body. The kind says what the body is, so a
control message can never be mistaken for file data or the reverse.

Public API: none (internal; the framing is specified in docs/protocol.md).
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import Any

from twisted.protocols.basic import Int32StringReceiver

_PREFIX = struct.Struct(">I")
TRANSPORT_BUFFER = 1024 * 1024
_HEADER = struct.Struct(">IB")


class FrameKind(IntEnum):
    CONTROL = 0x43  # "C": a UTF-8 JSON object
    DATA = 0x44  # "D": raw file bytes


class FrameReceiver(Int32StringReceiver):
    """
    An L{Int32StringReceiver} that reassembles frames without quadratic copying,
    understands frame kinds, and can stop delivering frames while the application
    is busy (which also stops reading from the socket, so the peer feels it).

    Stock L{Int32StringReceiver.dataReceived} concatenates the whole unprocessed
    buffer with each read, so a frame of size S costs O(S^2/read size) bytes of
    copying. Here the buffer is a C{bytearray} that grows in place and is trimmed
    from the front (O(1) amortised in CPython), so each byte is copied at most
    twice whatever the frame size.

    Subclasses implement L{controlReceived}, L{dataFrameReceived} and
    L{frameError}.
    """

    # The largest frame accepted, kind byte included. Set per instance.
    MAX_LENGTH = 1024 * 1024
    # Connected before any frame arrives; typed loosely since transports vary
    # (TCP, TLS, in-memory) and all provide what is used here.
    transport: Any

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._framesPaused = False
        self._delivering = False
        self._stopped = False

    # -- receiving -----------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        if self._stopped:
            return
        self._buffer += data
        self._deliver()

    def _deliver(self) -> None:
        if self._delivering:
            return  # re-entered from a frame callback; the outer loop continues
        self._delivering = True
        buf = self._buffer
        pos = 0
        try:
            while not self._framesPaused and not self._stopped:
                if len(buf) - pos < 4:
                    break
                (length,) = _PREFIX.unpack_from(buf, pos)
                if length > self.MAX_LENGTH:
                    self._stopped = True
                    self.lengthLimitExceeded(length)
                    break
                end = pos + 4 + length
                if len(buf) < end:
                    break
                if length == 0:
                    self._stopped = True
                    self.frameError("empty frame: a frame carries at least its kind byte")
                    break
                kind = buf[pos + 4]
                with memoryview(buf) as view:  # one copy, not two
                    body = bytes(view[pos + 5 : end])
                pos = end
                if kind == FrameKind.CONTROL:
                    self.controlReceived(body)
                elif kind == FrameKind.DATA:
                    self.dataFrameReceived(body)
                else:
                    self._stopped = True
                    self.frameError(f"unknown frame kind 0x{kind:02x}")
        finally:
            del buf[:pos]
            self._delivering = False
        if self._stopped:
            buf.clear()

    def stringReceived(self, string: bytes) -> None:  # pragma: no cover - unused
        raise AssertionError("FrameReceiver parses frames itself")

    def pauseFrames(self) -> None:
        """Stop delivering frames, and stop reading from the transport."""
        if not self._framesPaused:
            self._framesPaused = True
            if self.transport is not None and not self._stopped:
                self.transport.pauseProducing()

    def resumeFrames(self) -> None:
        """Deliver buffered frames again, and read from the transport."""
        if self._framesPaused:
            self._framesPaused = False
            if self.transport is not None and not self._stopped:
                self.transport.resumeProducing()
            self._deliver()

    def stopFrames(self) -> None:
        """Deliver nothing more, whatever is buffered (used before closing)."""
        self._stopped = True
        self._buffer.clear()

    @property
    def framesStopped(self) -> bool:
        return self._stopped

    @property
    def bufferedBytes(self) -> int:
        return len(self._buffer)

    def tuneTransport(self) -> None:
        """
        Read and buffer in bigger pieces than Twisted's 64 KiB default: fewer system
        calls per MiB moved, and a send buffer deep enough to keep the socket busy.
        Transports without the knob (TLS, in-memory) are left alone.
        """
        if isinstance(getattr(self.transport, "bufferSize", None), int):
            self.transport.bufferSize = TRANSPORT_BUFFER

    # -- hooks ---------------------------------------------------------------

    def controlReceived(self, body: bytes) -> None:
        raise NotImplementedError

    def dataFrameReceived(self, body: bytes) -> None:
        raise NotImplementedError

    def frameError(self, reason: str) -> None:
        """A malformed frame arrived; no further frame will be delivered."""
        self.transport.loseConnection()

    def lengthLimitExceeded(self, length: int) -> None:
        """A length prefix over L{MAX_LENGTH}; no further frame will be delivered."""
        self.transport.loseConnection()

    # -- sending -------------------------------------------------------------

    def sendControl(self, body: bytes) -> None:
        self.transport.writeSequence([_HEADER.pack(len(body) + 1, FrameKind.CONTROL), body])

    def sendData(self, body: bytes) -> None:
        """Send file bytes; C{body} is not copied."""
        self.transport.writeSequence([_HEADER.pack(len(body) + 1, FrameKind.DATA), body])

    def sendString(self, string: bytes) -> None:
        self.transport.writeSequence([_PREFIX.pack(len(string)), string])


def encode_frame(kind: FrameKind, body: bytes) -> bytes:
    """One whole frame as bytes (for tests and simple clients)."""
    return _HEADER.pack(len(body) + 1, kind) + body
