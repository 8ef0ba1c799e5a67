"""Direct receiving: data frames' bodies straight from a socket; anything else handed back."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from twisted.internet.defer import Deferred

from ftpkit.protocol.framing import FrameKind, encode_frame
from ftpkit.protocol.rawrecv import RawReceive, run
from ftpkit.protocol.waiting import RECHECK
from ftpkit.threads import InlineThreads
from tests.serverkit import result_of
from tests.unit.test_framing import connected, header
from tests.unit.test_rawsend import WaitingReactor

C, D = FrameKind.CONTROL, FrameKind.DATA


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    a.setblocking(False)
    yield a, b
    a.close()
    b.close()


class Sink:
    def __init__(self, fail_after: int | None = None) -> None:
        self.data = bytearray()
        self.fail_after = fail_after

    def write(self, buffers: list[memoryview]) -> None:
        for b in buffers:
            if self.fail_after is not None and len(self.data) + len(b) > self.fail_after:
                raise OSError(28, "No space left on device")
            self.data += b


def receiver(sock: socket.socket, sink: Sink, remaining: int, max_frame: int = 1 << 20,
             **kw: object) -> RawReceive:
    return RawReceive.start(sock.fileno(), sink.write, remaining, max_frame, stall=0, **kw)


def test_takes_the_bodies_and_hands_back_what_follows(pair: tuple[socket.socket, socket.socket]
                                                      ) -> None:
    a, b = pair
    body1, body2 = os.urandom(5000), os.urandom(300)
    after = encode_frame(C, b'{"end": 1}') + b"more"
    b.sendall(encode_frame(D, body1) + encode_frame(D, b"") + encode_frame(D, body2) + after)
    sink = Sink()
    raw = receiver(a, sink, remaining=10_000)
    raw.trip()
    assert bytes(sink.data) == body1 + body2
    assert raw.stopped and not raw.eof and raw.received == 5300
    assert raw.handback() == (after, 0)
    raw.close()
    b.send(b"x")  # the duplicate was closed, the original socket was not
    assert a.recv(10) == b"x"


def test_stops_once_everything_expected_is_in_without_reading_on(
        pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    b.sendall(encode_frame(D, b"abc"))
    sink = Sink()
    raw = receiver(a, sink, remaining=3)
    raw.trip()
    b.sendall(encode_frame(C, b"{}"))
    raw.trip()  # nothing more is read: the control frame stays in the socket
    assert raw.stopped and raw.handback() == (b"", 0) and bytes(sink.data) == b"abc"
    raw.close()
    assert a.recv(100) == encode_frame(C, b"{}")


@pytest.mark.parametrize("frame", [
    encode_frame(D, b"x" * 11),  # more than is still expected
    header(2 << 20, D) + b"x",  # longer than the largest frame
    header(0, D),  # empty: not even a kind byte
    header(3, 0x58) + b"zz",  # an unknown kind
])
def test_a_frame_it_does_not_take_goes_back_whole(pair: tuple[socket.socket, socket.socket],
                                                  frame: bytes) -> None:
    a, b = pair
    b.sendall(encode_frame(D, b"0123456789")[:-1])
    raw = receiver(a, Sink(), remaining=20)
    raw.trip()
    assert raw.blocked and raw.data_left == 1
    b.sendall(b"9" + frame)
    sink = Sink()
    raw.write = sink.write
    raw.trip()
    assert bytes(sink.data) == b"9" and raw.stopped
    assert raw.handback() == (frame, 0)
    raw.close()


def test_a_header_split_across_reads_and_trips(pair: tuple[socket.socket, socket.socket]
                                              ) -> None:
    a, b = pair
    wire = encode_frame(D, b"hello") + encode_frame(D, b"world")
    sink = Sink()
    raw = receiver(a, sink, remaining=10)
    for i in range(len(wire)):  # one byte at a time: every cut is seen
        b.send(wire[i:i + 1])
        raw.trip()
    assert bytes(sink.data) == b"helloworld" and raw.stopped
    raw.close()


def test_a_header_cut_short_by_the_end_of_the_run_is_handed_back(
        pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    b.sendall(header(6, C)[:3])
    raw = receiver(a, Sink(), remaining=10)
    raw.trip()
    assert raw.blocked and not raw.over
    raw.close()  # the owner stopped the run here: the three bytes go back
    assert raw.handback() == (header(6, C)[:3], 0)


def test_a_frame_under_way_continues_and_what_is_owed_goes_back(
        pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    b.sendall(b"tail-of-frame" + encode_frame(D, b"0123456789"[:4]))
    sink = Sink()
    raw = receiver(a, sink, remaining=100, data_left=13)  # the framing had read the header
    raw.trip()
    assert bytes(sink.data) == b"tail-of-frame0123"
    assert raw.handback() == (b"", 0)


def test_a_trip_returns_after_its_share(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    body = os.urandom(30_000)
    b.sendall(encode_frame(D, body) * 3)
    sink = Sink()
    raw = receiver(a, sink, remaining=10 << 20, per_trip=20_000,
                   buffer=memoryview(bytearray(8192)))
    raw.trip()
    assert 20_000 <= raw.received < 30_000 and not raw.over and not raw.blocked
    while len(sink.data) < 3 * 30_000:
        raw.trip()
    assert bytes(sink.data) == body * 3


@pytest.mark.parametrize("others_wait, lone_trip", [(False, 60.0), (True, 60.0), (False, 0.0)])
def test_a_trip_goes_on_past_its_share_only_briefly_and_while_no_other_work_waits(
        pair: tuple[socket.socket, socket.socket], others_wait: bool, lone_trip: float) -> None:
    a, b = pair
    body = os.urandom(30_000)
    b.sendall(encode_frame(D, body) * 3)
    sink = Sink()
    raw = receiver(a, sink, remaining=10 << 20, per_trip=20_000,
                   buffer=memoryview(bytearray(8192)), has_backlog=lambda: others_wait,
                   lone_trip=lone_trip)
    raw.trip()
    if others_wait or not lone_trip:
        assert 20_000 <= raw.received < 30_000 and not raw.blocked
    else:  # all there was, then the socket was empty
        assert raw.received == 90_000 and raw.blocked


@pytest.mark.parametrize("others_wait", [False, True])
def test_an_empty_socket_is_waited_on_only_while_no_other_work_waits(
        pair: tuple[socket.socket, socket.socket], others_wait: bool,
        monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = pair
    body = os.urandom(3000)
    b.sendall(encode_frame(D, body))
    waits: list[bool] = []
    monkeypatch.setattr("ftpkit.protocol.waiting.poll", lambda *args: waits.append(True) or False)
    raw = receiver(a, Sink(), remaining=10 << 20, has_backlog=lambda: others_wait)
    raw.trip()
    # the sender has gone quiet: hand back at once if a thread is wanted elsewhere
    assert raw.received == 3000 and raw.blocked
    assert waits == ([] if others_wait else [True])


def test_run_lets_a_trip_go_on_unless_its_pool_has_work_waiting(
        pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    threads = InlineThreads()
    raw = receiver(a, Sink(), remaining=10)
    result_of(Deferred.fromCoroutine(run(raw, threads, None, lambda: False, lambda n: None)))
    assert raw.has_backlog is not None and raw.has_backlog.__self__ is threads


def test_the_peer_closing_ends_the_run(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    b.sendall(encode_frame(D, b"0123456789")[:8])
    b.close()
    sink = Sink()
    raw = receiver(a, sink, remaining=10)
    raw.trip()
    assert raw.eof and raw.over and bytes(sink.data) == b"012"


def test_a_failed_write_ends_the_run_with_the_rest_of_the_frame_owed(
        pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    b.sendall(encode_frame(D, b"x" * 1000)[:505])
    raw = receiver(a, Sink(fail_after=0), remaining=1000, max_frame=2000)
    raw.trip()
    assert isinstance(raw.failure, OSError) and raw.stopped
    assert raw.handback() == (b"", 500)  # the framing drops the rest of the frame


def test_handed_back_bytes_parse_as_if_the_framing_had_read_them(
        pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    recorder, transport = connected()
    started: list[bool] = []
    recorder.lendReading(lambda: started.append(True))
    assert started and transport.producerState == "paused"
    b.sendall(encode_frame(D, b"abcdef") + encode_frame(C, b"{}") + encode_frame(D, b"later")[:3])
    sink = Sink()
    raw = receiver(a, sink, remaining=6)
    raw.trip()
    assert bytes(sink.data) == b"abcdef"
    recorder.reclaimReading(*raw.handback())
    assert transport.producerState == "producing"
    recorder.dataReceived(encode_frame(D, b"later")[3:])
    assert recorder.frames == [(C, b"{}"), (D, b"later")]


def running(a: socket.socket, threads: Any = None, go_on: Any = lambda: True,
            took: Any = lambda n: None) -> tuple[Sink, RawReceive, WaitingReactor, Deferred[None]]:
    """A run of a receiver expecting 6 bytes on C{a}, started on a fake reactor."""
    sink = Sink()
    raw = receiver(a, sink, remaining=6)
    reactor = WaitingReactor()
    d = Deferred.fromCoroutine(run(raw, threads or InlineThreads(), reactor, go_on, took))
    return sink, raw, reactor, d


def test_run_waits_on_the_reactor_while_the_socket_is_empty(
        pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    took: list[int] = []
    sink, raw, reactor, d = running(a, took=took.append)
    assert not d.called and len(reactor.waiting) == 1
    reactor.advance(RECHECK)  # nothing yet: it looks again and waits on
    assert not d.called and len(reactor.waiting) == 1
    b.sendall(encode_frame(D, b"abcdef"))
    reactor.waiting[0].doRead()
    result_of(d)
    assert bytes(sink.data) == b"abcdef" and took == [6] and reactor.waiting == []
    assert raw.sock.fileno() == -1  # the duplicate is closed


def test_run_takes_no_thread_until_the_first_bytes_arrive(
        pair: tuple[socket.socket, socket.socket]) -> None:
    """An upload's run starts before the client has heard its continue: no empty trip."""
    a, b = pair
    trips: list[object] = []

    class CountingThreads(InlineThreads):
        def run(self, f: Any, *args: Any, **kwargs: Any) -> Deferred[Any]:
            trips.append(f)
            return super().run(f, *args, **kwargs)

    sink, _, reactor, d = running(a, CountingThreads())
    assert trips == [] and len(reactor.waiting) == 1
    b.sendall(encode_frame(D, b"abcdef"))
    reactor.waiting[0].doRead()
    result_of(d)
    assert len(trips) == 1 and bytes(sink.data) == b"abcdef"


def test_bytes_that_arrive_once_the_session_goes_are_not_taken(
        pair: tuple[socket.socket, socket.socket]) -> None:
    """The wait ends readable, but the session went meanwhile: no trip, bytes untouched."""
    a, b = pair
    going = [True]
    sink, _, reactor, d = running(a, go_on=lambda: going[0])
    b.sendall(encode_frame(D, b"abcdef"))
    going[0] = False
    reactor.waiting[0].doRead()
    result_of(d)
    assert bytes(sink.data) == b"" and a.recv(100) == encode_frame(D, b"abcdef")


def test_a_silent_peer_is_left_once_the_session_goes(
        pair: tuple[socket.socket, socket.socket]) -> None:
    a, _ = pair
    raw = receiver(a, Sink(), remaining=6)
    reactor = WaitingReactor()
    going = [True]
    d = Deferred.fromCoroutine(run(raw, InlineThreads(), reactor, lambda: going[0],
                                   lambda n: None))
    going[0] = False
    reactor.advance(RECHECK)
    result_of(d)
    assert reactor.waiting == [] and raw.sock.fileno() == -1


def test_run_stops_when_told(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    b.sendall(encode_frame(D, b"abcdef"))
    raw = receiver(a, Sink(), remaining=100)
    d = Deferred.fromCoroutine(run(raw, InlineThreads(), None, lambda: False, lambda n: None))
    result_of(d)
    assert raw.handback() == (b"", 0) and a.recv(100) == encode_frame(D, b"abcdef")
