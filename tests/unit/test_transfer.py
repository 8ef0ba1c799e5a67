"""The shared transfer pieces: ordered writes with back-pressure, the token bucket."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from ftpkit.transfer import PIECE_OVERHEAD, Pauser, SerialWriter, TokenBucket
from tests.serverkit import result_of


class HeldThreads:
    """A thread runner whose jobs finish only when the test says so."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Any, tuple[Any, ...], Deferred[Any]]] = []

    def run(self, f: Any, *args: Any) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        self.jobs.append((f, args, d))
        return d

    def finish_one(self) -> None:
        f, args, d = self.jobs.pop(0)
        try:
            result = f(*args)
        except Exception as e:  # a thread's exception arrives as a failure
            d.errback(e)
        else:
            d.callback(result)


def test_one_write_at_a_time_in_order_even_when_resuming_feeds_more() -> None:
    threads = HeldThreads()
    written: list[bytes] = []
    events: list[str] = []
    writer: SerialWriter

    def resume() -> None:
        events.append("resume")
        if events.count("resume") == 1:  # resuming delivers buffered frames at once
            writer.feed(b"c")
            writer.feed(b"d")

    writer = SerialWriter(written.extend, threads, lambda: events.append("pause"), resume,
                          high=1, low=1)
    writer.feed(b"a")
    writer.feed(b"b")
    assert events == ["pause"] and len(threads.jobs) == 1
    while threads.jobs:
        assert len(threads.jobs) == 1  # never two writes at once
        threads.finish_one()
    assert written == [b"a", b"b", b"c", b"d"]
    result_of(writer.flush())


def test_a_failed_write_is_reported_once_and_later_chunks_dropped() -> None:
    threads = HeldThreads()
    failures: list[Any] = []

    def write(chunks: list[bytes]) -> None:
        raise OSError(28, "No space left on device")

    writer = SerialWriter(write, threads, lambda: None, lambda: None, batch=1,
                          on_failure=failures.append)
    writer.feed(b"x")
    threads.finish_one()
    assert len(failures) == 1 and writer.failed is not None
    writer.feed(b"y")
    assert threads.jobs == []
    d = writer.flush()
    d.addErrback(lambda f: f.trap(OSError))


def test_small_pieces_are_gathered_into_one_batch_per_trip_to_a_thread() -> None:
    threads = HeldThreads()
    written: list[list[bytes]] = []
    piece = 1000 + PIECE_OVERHEAD
    writer = SerialWriter(written.append, threads, lambda: None, lambda: None,
                          batch=10 * piece)
    for _ in range(9):
        writer.feed(b"x" * 1000)
    assert threads.jobs == []  # below one batch: nothing goes yet
    writer.feed(b"y" * 1000)
    assert len(threads.jobs) == 1
    writer.feed(b"z")
    threads.finish_one()
    assert [len(batch) for batch in written] == [10] and threads.jobs == []
    d = writer.flush()  # the tail goes at once, however small
    assert len(threads.jobs) == 1 and not d.called
    threads.finish_one()
    assert written[-1] == [b"z"]
    result_of(d)


def test_a_flood_of_tiny_pieces_counts_their_overhead_towards_the_high_mark() -> None:
    threads = HeldThreads()
    events: list[str] = []
    writer = SerialWriter(lambda _: None, threads, lambda: events.append("pause"),
                          lambda: events.append("resume"), high=100 * 1024, low=1024)
    for _ in range(500):
        writer.feed(b"")  # no data at all, yet each piece is an object held
    assert events == ["pause"]
    while threads.jobs:
        threads.finish_one()
    assert events == ["pause", "resume"]


def test_token_bucket_paces_to_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(1000, clock, burst=1000)
    assert bucket.delay(1000) == 0
    assert bucket.delay(500) == 0.5
    clock.advance(0.5)
    assert bucket.delay(0) == 0


def test_pauser_resumes_only_when_no_reason_is_left() -> None:
    calls: list[str] = []
    pauser = Pauser(lambda: calls.append("pause"), lambda: calls.append("resume"))
    pauser.pause("rate")
    pauser.pause("backlog")
    pauser.resume("rate")
    assert calls == ["pause"]
    pauser.resume("backlog")
    assert calls == ["pause", "resume"]


def test_write_all_survives_short_writes_and_many_buffers(
        tmp_path: Any, monkeypatch: Any) -> None:
    import os

    from ftpkit import fileio

    real = os.writev
    calls: list[int] = []

    def short_writev(fd: int, buffers: Any) -> int:
        calls.append(len(buffers))
        assert len(buffers) <= fileio.IOV_MAX
        return real(fd, [b"".join(buffers)[:10]])  # a short write: a prefix of the stream

    monkeypatch.setattr(os, "writev", short_writev)
    pieces = [bytes([i % 251]) * (i % 7) for i in range(2500)]
    target = tmp_path / "out"
    fd = os.open(target, os.O_WRONLY | os.O_CREAT)
    try:
        assert fileio.write_all(fd, [memoryview(p) for p in pieces]) == sum(map(len, pieces))
    finally:
        os.close(fd)
    assert target.read_bytes() == b"".join(pieces)
    assert len(calls) > 1


def test_hash_range_hashes_exactly_the_range_and_reports_a_short_file(tmp_path: Any) -> None:
    import hashlib
    import os

    import pytest

    from ftpkit import fileio

    data = os.urandom(3 * fileio.HASH_BLOCK + 123)
    (tmp_path / "f").write_bytes(data)
    fd = os.open(tmp_path / "f", os.O_RDONLY)
    try:
        hasher = hashlib.sha256()
        fileio.hash_range(fd, hasher, 1000, len(data) - 7, lambda: AssertionError("short"))
        assert hasher.hexdigest() == hashlib.sha256(data[1000:-7]).hexdigest()
        with pytest.raises(EOFError):
            fileio.hash_range(fd, hashlib.sha256(), 0, len(data) + 1, EOFError)
    finally:
        os.close(fd)


def test_a_buffer_pool_reuses_what_is_given_back_and_keeps_only_a_few() -> None:
    from ftpkit.fileio import BufferPool

    pool = BufferPool(keep=2)
    first = pool.take(100)
    assert len(first) == 100
    pool.give(first[:10])  # a slice gives back the whole buffer
    again = pool.take(100)
    assert again.obj is first.obj
    assert pool.take(100).obj is not first.obj  # in use: a fresh one
    assert len(pool.take(50)) == 50  # each size its own
    many = [pool.take(100) for _ in range(4)]
    for view in many:
        pool.give(view)
    assert {id(pool.take(100).obj) for _ in range(3)} & {id(v.obj) for v in many[2:]} == set()
