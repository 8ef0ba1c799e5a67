"""Zero-copy sending: whole frames on the wire; a full socket hands back to the reactor."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from ftpkit.protocol.framing import FrameKind, encode_frame
from ftpkit.protocol.rawsend import Changed, RawSend, raw_socket, run
from ftpkit.protocol.waiting import RECHECK
from ftpkit.threads import InlineThreads
from tests.serverkit import result_of
from tests.unit.test_framing import connected


def parse(data: bytes) -> list[tuple[int, bytes]]:
    receiver, _ = connected(max_length=1 << 30)
    receiver.dataReceived(data)
    assert receiver.bufferedBytes == 0 and receiver.pieces == []
    return receiver.frames


def drain(sock: socket.socket) -> bytes:
    sock.setblocking(False)
    out = bytearray()
    while True:
        try:
            got = sock.recv(1 << 20)
        except BlockingIOError:
            return bytes(out)
        if not got:
            return bytes(out)
        out += got


def send_all(raw: RawSend, fd: int, peer: socket.socket) -> bytes:
    """Trips until C{raw} is done, draining C{peer} after each; closes C{raw} and C{fd}."""
    got = bytearray()
    try:
        while not raw.done:
            raw.trip()
            got += drain(peer)
    finally:
        raw.close()
        os.close(fd)
    return bytes(got)


@pytest.fixture
def pair() -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair()
    a.setblocking(False)
    yield a, b
    a.close()
    b.close()


def test_sends_the_prefix_then_the_range_as_data_frames(tmp_path: Path, pair: tuple[
        socket.socket, socket.socket]) -> None:
    a, b = pair
    data = os.urandom(10_000)
    (tmp_path / "f").write_bytes(data)
    fd = os.open(tmp_path / "f", os.O_RDONLY)
    raw = RawSend.start(a.fileno(), fd, 1000, len(data), encode_frame(FrameKind.CONTROL, b"{}"),
                        frame=4096)
    got = send_all(raw, fd, b)
    frames = parse(got)
    assert frames[0] == (FrameKind.CONTROL, b"{}")
    assert [len(body) for _, body in frames[1:]] == [4096, 4096, 808]
    assert b"".join(body for _, body in frames[1:]) == data[1000:]
    a.send(b"still open")  # the duplicate was closed, the original socket was not
    assert b.recv(100) == b"still open"


def test_with_read_each_frame_sends_the_memory_read_returns(tmp_path: Path, pair: tuple[
        socket.socket, socket.socket]) -> None:
    """An uploading client hashes what it reads: exactly those bytes go out, not the file's."""
    a, b = pair
    data, fd = random_file(tmp_path, 10_000)
    asked = []

    def read(position: int, length: int) -> memoryview:
        asked.append((position, length))
        return memoryview(bytes(255 - x for x in data[position:position + length]))

    raw = RawSend.start(a.fileno(), fd, 1000, len(data), b"", frame=4096, read=read)
    got = send_all(raw, fd, b)
    assert asked == [(1000, 4096), (5096, 4096), (9192, 808)]
    assert b"".join(body for _, body in parse(got)) == bytes(
        255 - x for x in data[1000:])


def test_a_body_read_is_released_only_once_all_of_it_is_sent(tmp_path: Path, pair: tuple[
        socket.socket, socket.socket]) -> None:
    """The uploading client reuses a frame's buffer: never while the kernel still wants it."""
    a, b = pair
    size = 16 << 20  # more than the socket takes at once
    data, fd = random_file(tmp_path, size)
    bodies: list[memoryview] = []
    released: list[memoryview] = []

    def read(position: int, length: int) -> memoryview:
        bodies.append(memoryview(data)[position:position + length])
        return bodies[-1]

    raw = RawSend.start(a.fileno(), fd, 0, size, b"", frame=8 << 20, read=read,
                        release=released.append, stall=0.01)
    raw.trip()  # nobody reads: the first frame is left under way
    left_under_way = raw.blocked and raw.owed > 0 and released == []
    got = drain(b) + send_all(raw, fd, b)
    assert left_under_way
    assert [len(r) for r in released] == [8 << 20, 8 << 20]
    assert all(r is body for r, body in zip(released, bodies, strict=True))
    assert b"".join(body for _, body in parse(got)) == data


def test_a_trip_sends_whole_frames_until_its_share_is_sent(tmp_path: Path, pair: tuple[
        socket.socket, socket.socket]) -> None:
    a, b = pair
    data, fd = random_file(tmp_path, 100_000)
    try:
        raw = RawSend.start(a.fileno(), fd, 0, len(data), b"", frame=4096, per_trip=10000)
        raw.trip()  # two frames fit in the share; a third would not
        assert (raw.position, raw.owed, raw.blocked) == (8192, 0, False)
        raw.trip()
        assert raw.position == 16384
    finally:
        os.close(fd)
    assert parse(drain(b)) == [(FrameKind.DATA, data[i:i + 4096]) for i in range(0, 16384, 4096)]


@pytest.mark.parametrize("others_wait, lone_trip", [(False, 60.0), (True, 60.0), (False, 0.0)])
def test_a_trip_goes_on_past_its_share_only_briefly_and_while_no_other_work_waits(
        tmp_path: Path, pair: tuple[socket.socket, socket.socket], others_wait: bool,
        lone_trip: float) -> None:
    a, b = pair
    data, fd = random_file(tmp_path, 40_000)
    try:
        raw = RawSend.start(a.fileno(), fd, 0, len(data), b"", frame=4096, per_trip=10000,
                            has_backlog=lambda: others_wait, lone_trip=lone_trip)
        raw.trip()
        assert raw.position == (8192 if others_wait or not lone_trip else len(data))
    finally:
        os.close(fd)
    assert b"".join(body for _, body in parse(drain(b))) == data[:raw.position]


def test_a_trip_that_finishes_a_frame_starts_none_past_its_share(tmp_path: Path, pair: tuple[
        socket.socket, socket.socket]) -> None:
    a, b = pair
    data, fd = random_file(tmp_path, 3 << 20)
    got = bytearray()
    try:
        raw = RawSend.start(a.fileno(), fd, 0, len(data), b"", frame=1 << 20,
                            per_trip=1 << 20, stall=0)
        raw.trip()
        assert raw.blocked and raw.owed  # 1 MiB does not fit a socketpair's buffer
        while raw.owed:  # each trip goes on with the frame left under way...
            got += drain(b)
            raw.trip()
        assert raw.position == 1 << 20  # ...and, once it is done, starts no other
    finally:
        os.close(fd)
    got += drain(b)
    assert parse(bytes(got)) == [(FrameKind.DATA, data[:1 << 20])]


def test_a_reader_that_stops_reading_ends_the_trip_mid_frame(tmp_path: Path, pair: tuple[
        socket.socket, socket.socket]) -> None:
    a, b = pair
    size = 64 << 20
    with open(tmp_path / "big", "wb") as f:
        f.truncate(size)
    fd = os.open(tmp_path / "big", os.O_RDONLY)
    raw = RawSend.start(a.fileno(), fd, 0, size, b"", frame=size, stall=0.01)
    try:
        raw.trip()
        assert raw.blocked and not raw.done
        assert 0 < raw.position < size and raw.owed == size - raw.position
    finally:
        raw.close()
        os.close(fd)


def test_a_full_socket_is_not_waited_on_while_others_wait_for_a_thread(
        tmp_path: Path, pair: tuple[socket.socket, socket.socket]) -> None:
    a, _ = pair
    size = 64 << 20
    with open(tmp_path / "big", "wb") as f:
        f.truncate(size)
    fd = os.open(tmp_path / "big", os.O_RDONLY)
    polls: list[float] = []
    raw = RawSend.start(a.fileno(), fd, 0, size, b"", frame=size, stall=60,
                        has_backlog=lambda: True)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr("ftpkit.protocol.waiting.poll", lambda *args: polls.append(args[2]))
            raw.trip()  # with the poll, a minute's wait on a reader that never reads
        assert raw.blocked and 0 < raw.position < size and polls == []
    finally:
        raw.close()
        os.close(fd)


def test_a_file_shorter_than_the_range_is_reported(tmp_path: Path, pair: tuple[
        socket.socket, socket.socket]) -> None:
    a, _ = pair
    (tmp_path / "f").write_bytes(b"short")
    fd = os.open(tmp_path / "f", os.O_RDONLY)
    raw = RawSend.start(a.fileno(), fd, 0, 100, b"")
    try:
        with pytest.raises(Changed):
            raw.trip()
    finally:
        raw.close()
        os.close(fd)


def test_only_plain_tcp_with_an_empty_buffer_qualifies() -> None:
    assert raw_socket(StringTransport()) is None


def random_file(tmp_path: Path, size: int) -> tuple[bytes, int]:
    """A file of C{size} random bytes, and a descriptor open on it (closed by the test)."""
    data = os.urandom(size)
    (tmp_path / "f").write_bytes(data)
    return data, os.open(tmp_path / "f", os.O_RDONLY)


class DrainingReactor(Clock):
    """Says the socket is writable as soon as asked, after the reader has read."""

    def __init__(self, reader: socket.socket) -> None:
        super().__init__()
        self.reader = reader
        self.got = bytearray()
        self.waits = 0

    def addWriter(self, waiter: Any) -> None:
        self.waits += 1
        self.got += drain(self.reader)
        waiter.doWrite()

    def removeWriter(self, waiter: Any) -> None:
        pass


def test_run_waits_on_the_reactor_whenever_the_socket_is_full(tmp_path: Path, pair: tuple[
        socket.socket, socket.socket]) -> None:
    a, b = pair
    data, fd = random_file(tmp_path, 8 << 20)
    reactor = DrainingReactor(b)
    positions: list[int] = []
    try:
        raw = RawSend.start(a.fileno(), fd, 0, len(data), b"", frame=1 << 20, stall=0)
        assert result_of(Deferred.fromCoroutine(run(raw, InlineThreads(), reactor,
                                                    lambda: True, positions.append))
                         ) == len(data)
    finally:
        os.close(fd)
    reactor.got += drain(b)
    assert reactor.waits > 0  # 8 MiB does not fit a socketpair's buffer at once
    assert b"".join(body for _, body in parse(bytes(reactor.got))) == data
    assert positions == sorted(positions) and positions[-1] == len(data)


def test_run_stopped_early_still_finishes_the_frame_under_way(tmp_path: Path, pair: tuple[
        socket.socket, socket.socket]) -> None:
    a, b = pair
    data, fd = random_file(tmp_path, 3 << 20)
    reactor = DrainingReactor(b)
    trips = [0]

    def go_on() -> bool:
        trips[0] += 1
        return trips[0] == 1  # stop after the first trip

    try:
        raw = RawSend.start(a.fileno(), fd, 0, len(data), b"", frame=1 << 20, stall=0)
        reached = result_of(Deferred.fromCoroutine(run(raw, InlineThreads(), reactor, go_on)))
    finally:
        os.close(fd)
    reactor.got += drain(b)
    frames = parse(bytes(reactor.got))  # whole frames only: the parser is in step
    assert reached == sum(len(body) for _, body in frames) == 1 << 20


class WaitingReactor(Clock):
    """Registers waiters and never calls them by itself: a peer that does nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting: list[Any] = []

    def addReader(self, waiter: Any) -> None:
        self.waiting.append(waiter)

    def removeReader(self, waiter: Any) -> None:
        self.waiting.remove(waiter)

    addWriter, removeWriter = addReader, removeReader


def test_a_peer_that_never_reads_is_left_once_the_session_goes(tmp_path: Path, pair: tuple[
        socket.socket, socket.socket]) -> None:
    a, _ = pair
    data, fd = random_file(tmp_path, 8 << 20)
    reactor = WaitingReactor()
    going = [True]
    try:
        raw = RawSend.start(a.fileno(), fd, 0, len(data), b"", frame=4 << 20, stall=0)
        d = Deferred.fromCoroutine(run(raw, InlineThreads(), reactor, lambda: going[0]))
        assert not d.called and len(reactor.waiting) == 1
        reactor.advance(RECHECK)  # still going: it waits again, mid-frame
        assert not d.called and len(reactor.waiting) == 1
        going[0] = False  # the session closes while the peer still does not read
        reactor.advance(RECHECK)
        assert 0 < result_of(d) < len(data) and reactor.waiting == []
        assert raw.sock.fileno() == -1  # the duplicate is closed: nothing is held
    finally:
        os.close(fd)
