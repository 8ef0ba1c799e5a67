"""
Data frames straight from a TCP socket into a reused buffer, then to disk, in a thread.

test-case-name: tests.unit.test_rawrecv

The receiving twin of L{ftpkit.protocol.rawsend}. Through Twisted, every socket read
of an upload (or a download, on the client) is a fresh C{bytes} the reactor thread
allocates, parses and hands to a writer thread. Here a thread reads the socket
itself, into one buffer it reuses, splits out the data frames' bodies and hands
them to a blocking C{write} (which hashes and writes them) before reading again:
no allocation, no copy and no hand-off per read, and the reactor is not involved
until the trip ends.

It takes only the common case: data frames that fit the transfer. At anything else
-- a control frame (the transfer's end), a frame too long, or more data than is
still expected -- the run stops, and the bytes read past the last data frame it
took (L{RawReceive.leftover}) go back to the framing, which handles them exactly
as if it had read them itself. Error handling thus stays in one place.

Rules, as for raw sends: the owner (the framing) stops reading the transport before
a run starts and reads again only after it ends; the socket is used through a
duplicate descriptor; a trip reads C{per_trip} bytes (longer only while no other
work waits for a thread: L{LONE_TRIP}) and returns early when the socket stays
empty for C{stall} seconds (at once while other work waits for a thread), and the
reactor then waits until the duplicate is readable before the next trip (and before
the first, unless bytes are already there).

Public API: none (internal to both ends' transfers).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from attrs import define, field

from ftpkit.protocol import waiting
from ftpkit.protocol.framing import HEADER, FrameKind

BUFFER = 1024 * 1024  # bytes each thread reads into, reused from trip to trip
PER_TRIP = 4 * 1024 * 1024  # data bytes a trip takes before it returns to the reactor
STALL = 0.005  # seconds a trip waits on an empty socket before handing back
# Seconds a trip may go on past its share while no other work waits for a thread
# (ftpkit.threads, has_backlog). Each hand-back to the reactor and on to the next
# trip leaves the socket unread a moment, and the sender stalls on it: on 2 cores,
# 4 MiB trips held a 1 GiB put to 857 MB/s; going on while alone, 1237 MB/s.
LONE_TRIP = 0.1

_buffers = threading.local()


def goes_on_alone(has_backlog: Callable[[], bool] | None, started: float,
                  lone_trip: float) -> bool:
    """Past its share, may a trip begun at C{started} go on? Briefly, while no one waits."""
    return (has_backlog is not None and time.monotonic() - started < lone_trip
            and not has_backlog())


def _buffer() -> memoryview:
    view: memoryview | None = getattr(_buffers, "view", None)
    if view is None:
        view = _buffers.view = memoryview(bytearray(BUFFER))
    return view


@define
class RawReceive:
    """
    One raw-receiving run on a duplicate of a socket's descriptor. L{trip} blocks (call
    it from a thread); L{close} from the reactor thread once trips are over.
    """

    sock: socket.socket
    # Blocking, in the thread: the next bodies' bytes, in order (views of the reused
    # buffer, valid only during the call). An exception from it ends the run.
    write: Callable[[list[memoryview]], None]
    remaining: int  # data bytes still expected; a frame longer than this ends the run
    max_frame: int  # the largest frame length accepted (the kind byte counted)
    data_left: int = 0  # body bytes of the frame under way, not yet read
    per_trip: int = PER_TRIP
    stall: float = STALL
    buffer: memoryview | None = None  # to read into; None: the thread's own (L{BUFFER} bytes)
    # From the thread: whether other work waits for one (then a trip ends at per_trip);
    # None: always end there. L{run} sets the pool's.
    has_backlog: Callable[[], bool] | None = None
    lone_trip: float = LONE_TRIP
    received: int = field(default=0, init=False)  # data bytes the last trip took
    leftover: bytes = field(default=b"", init=False)  # read past the data: the framing's
    stopped: bool = field(default=False, init=False)  # something else is next: the run is over
    eof: bool = field(default=False, init=False)  # the peer closed (or reset) the connection
    failure: BaseException | None = field(default=None, init=False)  # what write raised
    blocked: bool = field(default=False, init=False)  # the last trip found the socket empty
    _partial: bytes = field(default=b"", init=False)  # a header's first bytes

    @classmethod
    def start(cls, sock_fd: int, write: Callable[[list[memoryview]], None], remaining: int,
              max_frame: int, **kw: Any) -> RawReceive:
        """On the reactor thread, once the owner has stopped reading the socket."""
        dup = socket.socket(fileno=os.dup(sock_fd))  # non-blocking, like the original
        return cls(dup, write, remaining, max_frame, **kw)

    @property
    def over(self) -> bool:
        return self.stopped or self.eof

    def trip(self) -> None:
        """Blocking: read and write data frames until C{per_trip} bytes, a stall or the end."""
        self.blocked = False
        self.received = 0
        started = time.monotonic()
        view = self.buffer if self.buffer is not None else _buffer()
        while not self.over and (self.received < self.per_trip or self._alone(started)):
            if not self.data_left and not self.remaining:
                self.stopped = True  # every byte expected is in; the end follows
                break
            filled, pieces = self._fill(view)
            if pieces:
                try:
                    self.write(pieces)
                except BaseException as e:  # disk full, say: the owner reports it
                    self.failure = e
                    self.stopped = True
            # An empty socket: wait a moment in the thread only if bytes were flowing
            # this trip (a fast sender) and no other work waits for a thread; a
            # trickle, or any socket while others wait, goes back to the reactor at
            # once, so that a few threads can serve many sessions.
            if not filled and not self.over and not (self.received and self._readable()):
                self.blocked = True
                break

    def _alone(self, started: float) -> bool:
        return self.per_trip > 0 and goes_on_alone(self.has_backlog, started, self.lone_trip)

    def _fill(self, view: memoryview) -> tuple[int, list[memoryview]]:
        """Read into C{view} while the socket has bytes; the bodies read, as views."""
        filled = 0
        pieces: list[memoryview] = []
        while filled < len(view) and not self.over:
            try:
                got = self.sock.recv_into(view[filled:])
            except BlockingIOError:
                break
            except OSError:  # reset: the framing learns of it from Twisted
                self.eof = True
                break
            if not got:
                self.eof = True
                break
            self._parse(view, filled, filled + got, pieces)
            filled += got
        return filled, pieces

    def _parse(self, view: memoryview, start: int, end: int, pieces: list[memoryview]) -> None:
        position = start
        while position < end:
            if self.data_left:
                take = min(self.data_left, end - position)
                pieces.append(view[position:position + take])
                position += take
                self.data_left -= take
                self.remaining -= take
                self.received += take
                continue
            need = min(HEADER.size - len(self._partial), end - position)
            header = self._partial + bytes(view[position:position + need])
            if not self.remaining or len(header) == HEADER.size and not self._takes(header):
                self.leftover = header + bytes(view[position + need:end])
                self._partial = b""
                self.stopped = True
                return
            if len(header) < HEADER.size:
                self._partial = header
                return
            self._partial = b""
            position += need
            self.data_left = HEADER.unpack(header)[0] - 1

    def _takes(self, header: bytes) -> bool:
        length, kind = HEADER.unpack(header)
        return bool(kind == FrameKind.DATA and 1 <= length <= self.max_frame
                    and length - 1 <= self.remaining)

    def _readable(self) -> bool:
        return waiting.poll_unless_wanted(self.sock.fileno(), False, self.stall,
                                          self.has_backlog)

    def close(self) -> None:
        self.sock.close()

    def handback(self) -> tuple[bytes, int]:
        """What the framing resumes with: bytes to parse first, and body bytes owed."""
        return self._partial + self.leftover, self.data_left


async def run(raw: RawReceive, threads: Any, reactor: Any, go_on: Callable[[], bool],
              took: Callable[[int], None]) -> None:
    """
    Trips to C{threads} until C{raw} is over or C{go_on()} turns false, waiting on the
    reactor for bytes whenever a trip finds the socket empty; C{took} is told on the
    reactor thread how many data bytes each trip wrote. Closes C{raw}'s duplicate
    descriptor. The caller then hands L{RawReceive.handback} to the framing.
    """
    if raw.has_backlog is None:
        raw.has_backlog = threads.has_backlog
    fd = raw.sock.fileno()
    # An upload's run starts as its continue goes out, before the client can have sent
    # anything: the first trip waits for bytes on the reactor, not in a thread.
    readable = waiting.poll(fd, False, 0)
    try:
        while not raw.over and go_on():
            if not readable:
                readable = await waiting.readable(reactor, fd)  # or False after a while
                continue  # go_on again first: the session may have gone meanwhile
            await threads.run(raw.trip)
            if raw.received:
                took(raw.received)
            readable = not raw.blocked
    finally:
        raw.close()


async def receive(framing: Any, sock_fd: int, write: Callable[[list[memoryview]], None],
                  remaining: int, threads: Any, reactor: Any, took: Callable[[int], None]
                  ) -> BaseException | None:
    """
    A whole run for a L{FrameReceiver} that has lent its reading (C{lendReading}):
    trips until it is over or the framing stops, then the socket goes back to it
    with what it needs to go on. Returns what C{write} raised, if anything.
    """
    raw = RawReceive.start(sock_fd, write, remaining, framing.MAX_LENGTH,
                           data_left=framing.dataFrameRemaining)
    try:
        await run(raw, threads, reactor, lambda: not framing.framesStopped, took)
    finally:
        framing.reclaimReading(*raw.handback())
    return raw.failure
