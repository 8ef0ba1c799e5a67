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
from collections.abc import Callable
from enum import IntEnum
from typing import Any

from twisted.protocols.basic import Int32StringReceiver

_PREFIX = struct.Struct(">I")
TRANSPORT_BUFFER = 1024 * 1024
HEADER = struct.Struct(">IB")  # a frame's length and kind
_SMALL_READ = 2048


class FrameKind(IntEnum):
    CONTROL = 0x43  # "C": a UTF-8 JSON object
    DATA = 0x44  # "D": raw file bytes


class FrameReceiver(Int32StringReceiver):
    """
    An L{Int32StringReceiver} that parses frames in linear time without copying
    file data, understands frame kinds, and can stop delivering frames while the
    application is busy (which also stops reading from the socket, so the peer
    feels it).

    Stock L{Int32StringReceiver.dataReceived} concatenates the whole unprocessed
    buffer with each read, so a frame of size S costs O(S^2/read size) bytes of
    copying. Here the reads are kept as they came, in a queue, and:

      - a control frame (small, bounded by L{MAX_LENGTH}) is joined into one
        C{bytes} once it is whole;
      - a data frame's body is never reassembled: each piece of it is handed to
        L{dataPieceReceived} as soon as it arrives, as a C{memoryview} of the read
        it came in (zero copies; the read is immutable, so the view stays valid
        for as long as anyone holds it). C{last} marks the frame's final piece.

    Subclasses implement L{controlReceived}, L{dataPieceReceived} and
    L{frameError}.
    """

    # Slots: a server holds one of these per connection, and an instance dict of
    # this many keys costs about 1.5 KiB (docs/performance.md, "Memory per session").
    __slots__ = ("_reads", "_head", "_buffered", "_data_left", "_framesPaused",
                 "_delivering", "_stopped", "_lent", "_lend")

    # The largest frame accepted, kind byte included. Set per instance.
    MAX_LENGTH = 1024 * 1024
    # Connected before any frame arrives; typed loosely since transports vary
    # (TCP, TLS, in-memory) and all provide what is used here.
    transport: Any

    def __init__(self) -> None:
        # What arrived and is not yet consumed: rarely more than a few reads, so a list
        # (an empty one is 56 bytes; an empty deque, 600: this is per connection).
        self._reads: list[bytes] = []
        self._head = 0  # bytes of _reads[0] already consumed
        self._buffered = 0  # unconsumed bytes in _reads
        self._data_left = 0  # bytes of the current data frame's body still to come
        self._framesPaused = False
        self._delivering = False
        self._stopped = False
        self._lent = False  # someone else reads the socket (ftpkit.protocol.rawrecv)
        self._lend: Callable[[], None] | None = None  # ... as soon as the buffer is empty

    # -- receiving -----------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        if self._stopped or not data:
            return
        reads = self._reads
        if reads and len(data) < _SMALL_READ and len(reads[-1]) < _SMALL_READ:
            reads[-1] += data  # a trickle of tiny reads costs one object per 2 KiB, not each
        else:
            reads.append(data)
        self._buffered += len(data)
        self._deliver()

    def _deliver(self) -> None:
        if self._delivering:
            return  # re-entered from a frame callback; the outer loop continues
        self._delivering = True
        try:
            while not self._framesPaused and not self._stopped:
                if self._data_left:
                    if not self._buffered:
                        break
                    self._deliver_piece()
                elif not self._next_frame():
                    break
        finally:
            self._delivering = False
        if self._stopped:
            self._drop()
        elif self._lend is not None:
            self._lend_when_drained()

    def _deliver_piece(self) -> None:
        read, head = self._reads[0], self._head
        n = min(self._data_left, len(read) - head)
        piece: bytes | memoryview = read if head == 0 and n == len(read) \
            else memoryview(read)[head:head + n]
        self._consume(n)
        self._data_left -= n
        self.dataPieceReceived(piece, self._data_left == 0)

    def _next_frame(self) -> bool:
        """Start (or, for a control frame, deliver) the next frame; False: wait for more."""
        if self._buffered < 4:
            return False
        (length,) = _PREFIX.unpack(self._peek(4))
        if length > self.MAX_LENGTH:
            self._stopped = True
            self.lengthLimitExceeded(length)
            return False
        if length == 0:
            self._stopped = True
            self.frameError("empty frame: a frame carries at least its kind byte")
            return False
        if self._buffered < 5:
            return False
        kind = self._peek(5)[4]
        if kind == FrameKind.DATA:
            self._consume(5)
            self._data_left = length - 1
            if not self._data_left:
                self.dataPieceReceived(b"", True)
            return True
        if kind == FrameKind.CONTROL:
            if self._buffered < 4 + length:
                return False
            body = self._peek(4 + length)[5:]
            self._consume(4 + length)
            self.controlReceived(body)
            return True
        self._stopped = True
        self.frameError(f"unknown frame kind 0x{kind:02x}")
        return False

    def _peek(self, n: int) -> bytes:
        """The next C{n} buffered bytes (n <= _buffered), without consuming them."""
        first = self._reads[0]
        if len(first) - self._head >= n:
            return first[self._head:self._head + n]
        parts, want = [], n
        for i, read in enumerate(self._reads):
            start = self._head if i == 0 else 0
            parts.append(read[start:start + want])
            want -= len(parts[-1])
            if not want:
                break
        return b"".join(parts)

    def _consume(self, n: int) -> None:
        self._buffered -= n
        n += self._head
        reads = self._reads
        done = 0
        while done < len(reads) and n >= len(reads[done]):
            n -= len(reads[done])
            done += 1
        del reads[:done]
        self._head = n

    def _drop(self) -> None:
        self._reads.clear()
        self._head = self._buffered = self._data_left = 0

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
            if self.transport is not None and not self._stopped and not self._lent:
                self.transport.resumeProducing()
            self._deliver()

    def lendReading(self, lent: Callable[[], None]) -> None:
        """
        Once every byte buffered here has been delivered, stop reading the transport
        and call C{lent()}: another reader may then take the socket's bytes (a raw
        receive) until L{reclaimReading}. Never called if frames stop first.
        """
        if not self._stopped and not self._lent:
            self._lend = lent
            self._lend_when_drained()

    def cancelLend(self) -> None:
        """Forget a L{lendReading} not yet carried out."""
        self._lend = None

    def _lend_when_drained(self) -> None:
        if self._lend is not None and not self._buffered and not self._stopped:
            lent, self._lend = self._lend, None
            self._lent = True
            self.transport.pauseProducing()
            lent()

    def reclaimReading(self, leftover: bytes, data_left: int) -> None:
        """
        Read the transport again after L{lendReading}: C{leftover} is what the other
        reader read past what it took, parsed first; C{data_left} body bytes of a data
        frame are still to come (its header went to the other reader).
        """
        self._lent = False
        if self._stopped:
            return
        self._data_left = data_left
        if leftover:
            self._reads.append(leftover)
            self._buffered += len(leftover)
        if not self._framesPaused:
            self.transport.resumeProducing()
        self._deliver()

    def stopFrames(self) -> None:
        """Deliver nothing more, whatever is buffered (used before closing)."""
        self._stopped = True
        self._drop()

    @property
    def framesStopped(self) -> bool:
        return self._stopped

    @property
    def dataFrameRemaining(self) -> int:
        """Bytes of the data frame under way not yet handed to L{dataPieceReceived}."""
        return self._data_left

    @property
    def bufferedBytes(self) -> int:
        return self._buffered

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

    def dataPieceReceived(self, piece: bytes | memoryview, last: bool) -> None:
        """
        Part of a data frame's body, in order; C{last}: the frame ends here. A frame
        may arrive in any number of pieces (an empty frame as one empty piece).
        """
        raise NotImplementedError

    def frameError(self, reason: str) -> None:
        """A malformed frame arrived; no further frame will be delivered."""
        self.transport.loseConnection()

    def lengthLimitExceeded(self, length: int) -> None:
        """A length prefix over L{MAX_LENGTH}; no further frame will be delivered."""
        self.transport.loseConnection()

    # -- sending -------------------------------------------------------------

    def sendControl(self, body: bytes) -> None:
        self.sendParts([HEADER.pack(len(body) + 1, FrameKind.CONTROL), body])

    def sendData(self, body: bytes) -> None:
        """Send file bytes; C{body} is not copied."""
        self.sendParts([HEADER.pack(len(body) + 1, FrameKind.DATA), body])

    def sendParts(self, parts: list[bytes]) -> None:
        """Every frame goes out through here: the bytes of whole frames, in order."""
        self.transport.writeSequence(parts)

    def sendString(self, string: bytes) -> None:
        self.transport.writeSequence([_PREFIX.pack(len(string)), string])


def encode_frame(kind: FrameKind, body: bytes) -> bytes:
    """One whole frame as bytes (for tests and simple clients)."""
    return HEADER.pack(len(body) + 1, kind) + body
