"""The shared transfer pieces: ordered writes with back-pressure, the token bucket."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from ftpkit.transfer import Pauser, SerialWriter, TokenBucket
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

    writer = SerialWriter(write, threads, lambda: None, lambda: None,
                          on_failure=failures.append)
    writer.feed(b"x")
    threads.finish_one()
    assert len(failures) == 1 and writer.failed is not None
    writer.feed(b"y")
    assert threads.jobs == []
    d = writer.flush()
    d.addErrback(lambda f: f.trap(OSError))


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
