"""
Data frames straight from a file to a TCP socket, bypassing Twisted.

test-case-name: tests.unit.test_rawsend

Twisted's transports copy every byte written through them (into their buffer, then
into the socket). For a download whose checksum the server already knows, the file's
bytes need not pass through Python at all: the kernel can move them from the page
cache to the socket (os.sendfile). An uploading client must read every byte anyway,
to hash it; it sends each frame from the memory it hashed (C{read}), so the bytes
hashed are exactly the bytes sent. That is also the faster way when the data is
read anyway: on loopback, with both ends hashing, 1130 against 955 MB/s by sendfile
(docs/performance.md). The wire format is unchanged: data frames, each a 5-byte
header (sent with MSG_MORE so it shares a segment with the body) and a body.

Rules that keep this safe beside Twisted, which owns the socket:

  - raw sending starts only when the transport is plain TCP with nothing buffered,
    and while it runs the owner (the session) writes nothing through the transport;
  - the socket is used through a duplicate descriptor taken on the reactor thread,
    so a descriptor number reused after a close can never receive our bytes;
  - each trip to a thread sends C{per_trip} bytes of frames (finishing the frame
    under way; more only while no other work waits for a thread, for at most
    L{ftpkit.protocol.rawrecv.LONE_TRIP}), and returns early when the socket stays
    full for C{stall} seconds (at once while other work waits for a thread); the
    reactor then waits until the duplicate is writable (its own epoll registration)
    before the next trip, so no thread ever waits on a slow client for more than a
    moment.

Public API: none (internal to the server's data channel).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import Any

from attrs import define, field

from ftpkit.protocol import waiting
from ftpkit.protocol.framing import HEADER, FrameKind
from ftpkit.protocol.rawrecv import LONE_TRIP, goes_on_alone

FRAME = 4 * 1024 * 1024  # body bytes per data frame sent this way
# Body bytes of whole frames a trip sends before it hands back to the reactor: one frame
# of a download; four of an upload's 1 MiB frames (one trip per frame cost the client
# 0.1-0.2 CPU-s a GiB). A trip that finishes a frame left under way starts no frame that
# would take it past its share: with 200 downloads on 4 threads, those had each waited
# out a full socket, and the downloads took longer.
PER_TRIP = 4 * 1024 * 1024
STALL = 0.005  # seconds a trip waits on a full socket before handing back to the reactor


def tcp_socket(transport: Any) -> int | None:
    """The descriptor of a plain TCP transport that is still open, else None."""
    from twisted.internet import tcp

    if not isinstance(transport, tcp.Connection):
        return None  # TLS and in-memory transports are wrappers, never tcp.Connection
    try:
        fileno = transport.fileno()
    except AttributeError:  # another Twisted, or a closed connection
        return None
    if transport.disconnecting or transport.disconnected:
        return None
    return int(fileno)


def raw_socket(transport: Any) -> int | None:
    """The descriptor of a plain TCP transport with nothing buffered, else None."""
    fileno = tcp_socket(transport) if hasattr(os, "sendfile") else None
    try:
        idle = not transport._tempDataLen and len(transport.dataBuffer) == transport.offset
    except AttributeError:
        return None
    return fileno if idle else None


class Changed(Exception):
    """The file ended before the range did."""


@define
class RawSend:
    """
    One raw-sending run on a duplicate of a socket's descriptor. L{trip} blocks
    (call it from a thread); L{close} from the reactor thread once trips are over.
    """

    sock: socket.socket
    file_fd: int
    position: int
    end: int
    pending: bytes = b""  # control bytes to send before any more data
    owed: int = 0  # body bytes of the frame under way not yet sent
    frame: int = FRAME
    per_trip: int = PER_TRIP
    stall: float = STALL
    # Called in the thread with (position, length) as each frame starts: its body, read
    # into memory (and hashed) by the caller, to be sent instead of the file's bytes.
    read: Callable[[int, int], memoryview] | None = None
    # Called in the thread with a body from C{read} once all of it is sent.
    release: Callable[[memoryview], None] | None = None
    # From the thread: whether other work waits for one (then a trip ends at per_trip);
    # None: always end there. L{run} sets the pool's.
    has_backlog: Callable[[], bool] | None = None
    lone_trip: float = LONE_TRIP
    blocked: bool = field(default=False, init=False)  # the last trip found the socket full
    _body: memoryview | None = field(default=None, init=False)  # the frame's, from read

    @classmethod
    def start(cls, sock_fd: int, file_fd: int, start: int, end: int, prefix: bytes,
              **kw: Any) -> RawSend:
        """On the reactor thread: C{prefix} (encoded frames) goes first, then [start, end)."""
        dup = socket.socket(fileno=os.dup(sock_fd))  # non-blocking, like the original
        return cls(dup, file_fd, start, end, prefix, **kw)

    @property
    def done(self) -> bool:
        return not self.pending and not self.owed and self.position >= self.end

    def trip(self) -> None:
        """
        Blocking: the pending bytes, the frame under way, then as many whole frames as
        fit in C{per_trip} body bytes; it stops early when the socket stays full.
        """
        self.blocked = False
        start, started = self.position, time.monotonic()
        while self.pending:
            if not self._send_pending():
                return
        while self.owed or self._may_start_frame(start, started):
            if not self.owed:
                self.owed = min(self.frame, self.end - self.position)
                if self.read is not None:
                    self._body = self.read(self.position, self.owed)
                self.pending = HEADER.pack(self.owed + 1, FrameKind.DATA)
                if not self._send_pending(more=True):
                    return
            try:
                if self._body is not None:
                    sent = self.sock.send(self._body[len(self._body) - self.owed:])
                else:
                    sent = os.sendfile(self.sock.fileno(), self.file_fd, self.position,
                                       self.owed)
            except BlockingIOError:
                if not self._writable():
                    return
                continue
            if sent == 0:
                raise Changed("the file is shorter than it was")
            self.position += sent
            self.owed -= sent
            if not self.owed and self._body is not None:
                body, self._body = self._body, None
                if self.release is not None:
                    self.release(body)

    def _may_start_frame(self, start: int, started: float) -> bool:
        """
        Another frame fits in this trip's share (or is the trip's first), or the trip
        may go on past it: briefly, and while no other work waits for a thread.
        """
        if self.position >= self.end or not self.per_trip:
            return False
        sent = self.position - start
        if not sent or sent + min(self.frame, self.end - self.position) <= self.per_trip:
            return True
        return goes_on_alone(self.has_backlog, started, self.lone_trip)

    def _send_pending(self, more: bool = False) -> bool:
        while self.pending:
            try:
                sent = self.sock.send(self.pending, socket.MSG_MORE if more else 0)
            except BlockingIOError:
                if not self._writable():
                    return False
                continue
            self.pending = self.pending[sent:]
        return True

    def _writable(self) -> bool:
        if waiting.poll_unless_wanted(self.sock.fileno(), True, self.stall, self.has_backlog):
            return True
        self.blocked = True
        return False

    def close(self) -> None:
        self.sock.close()


async def run(raw: RawSend, threads: Any, reactor: Any, go_on: Callable[[], bool],
              progress: Callable[[int], None] | None = None) -> int:
    """
    Trips to C{threads} until C{raw} is done or C{go_on()} turns false, waiting on
    the reactor for the socket to drain whenever a trip finds it full. If stopped
    early, a frame under way is finished first, so the peer's parser stays in step,
    unless the peer does not read for a while (L{waiting.RECHECK}): then it is left.
    Returns the position reached. Closes C{raw}'s duplicate descriptor.
    Raises OSError if the peer went away, L{Changed} if the file shrank.
    """
    if raw.has_backlog is None:
        raw.has_backlog = threads.has_backlog
    try:
        while not raw.done:
            if not go_on():
                if not raw.owed and not raw.pending:
                    break
                raw.per_trip = 0  # finish the frame under way, start no other
            await threads.run(raw.trip)
            if progress is not None:
                progress(raw.position)
            if raw.blocked and not await waiting.writable(reactor, raw.sock.fileno()) \
                    and not go_on():
                break  # a peer that does not read, on a session going away
        return raw.position
    finally:
        raw.close()
