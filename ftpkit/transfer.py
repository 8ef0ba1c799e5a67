"""
Pieces shared by both ends of a transfer: ordered writes off the reactor thread
with back-pressure, and a token bucket for rate limits.

test-case-name: tests.unit.test_transfer

Public API: none (internal to put and get).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from attrs import define, field
from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import ConnectionLost
from twisted.internet.interfaces import IPushProducer, IReactorTime
from twisted.python.failure import Failure
from zope.interface import implementer

from ftpkit.threads import ThreadRunner

Buffer = bytes | memoryview  # file data as the framing hands it on, uncopied

CHUNK = 256 * 1024  # bytes of file data per data frame
HIGH_WATER = 4 * 1024 * 1024  # buffered bytes at which a writer stops its source
LOW_WATER = 1 * 1024 * 1024  # ... and at which it starts it again
PIECE_OVERHEAD = 256  # bytes a queued piece counts for beyond its data
BATCH = 1024 * 1024  # bytes a writer gathers before a trip to its thread


@define
class SerialWriter:
    """
    Takes chunks on the reactor thread and hands them, in order and in batches, to a
    blocking C{write} run in a thread, one batch at a time. A batch goes to the
    thread once C{batch} bytes wait (or on L{flush}): each trip to a thread costs a
    wake-up on both sides, so few large trips beat many small ones. When more than
    C{high} bytes wait, it calls C{pause} (stop reading the peer); below C{low},
    C{resume}. Memory per writer is thus bounded by about C{high} plus one frame.
    """

    write: Callable[[list[Buffer]], None]
    threads: ThreadRunner
    pause: Callable[[], None]
    resume: Callable[[], None]
    high: int = HIGH_WATER
    low: int = LOW_WATER
    batch: int = BATCH
    on_failure: Callable[[Failure], None] | None = None  # told at once when a write fails
    _pending: list[Buffer] = field(factory=list, init=False)
    _pending_bytes: int = field(default=0, init=False)
    _in_flight: int = field(default=0, init=False)
    _paused: bool = field(default=False, init=False)
    _writing: bool = field(default=False, init=False)
    _failure: Failure | None = field(default=None, init=False)
    _waiters: list[Deferred[None]] = field(factory=list, init=False)

    @property
    def failed(self) -> Failure | None:
        return self._failure

    def feed(self, chunk: Buffer) -> None:
        if self._failure is not None:
            return  # already failed: drop
        self._pending.append(chunk)
        # Each piece also costs its object: a flood of tiny pieces is bounded too.
        self._pending_bytes += len(chunk) + PIECE_OVERHEAD
        if not self._paused and self._pending_bytes + self._in_flight > self.high:
            self._paused = True
            self.pause()
        if not self._writing and self._due():
            self._next()

    def _due(self) -> bool:
        """A batch should go now: it is big enough, or someone waits on it."""
        return bool(self._pending) and (self._paused or bool(self._waiters)
                                        or self._pending_bytes >= min(self.batch, self.high))

    def _next(self) -> None:
        batch, self._pending = self._pending, []
        self._in_flight, self._pending_bytes = self._pending_bytes, 0
        self._writing = True
        self.threads.run(self.write, batch).addCallbacks(self._written, self._write_failed)

    def _written(self, _: object) -> None:
        self._writing = False
        self._in_flight = 0
        if self._due():
            self._next()
        elif not self._pending:
            waiters, self._waiters = self._waiters, []
            for d in waiters:
                d.callback(None)
        # Last: resuming may deliver frames at once, which feed() and so may start
        # the next write; one write at a time keeps the bytes (and the hash) in order.
        if self._paused and self._pending_bytes + self._in_flight <= self.low:
            self._paused = False
            self.resume()

    def _write_failed(self, failure: Failure) -> None:
        self._writing = False
        self._failure = failure
        self._pending, self._pending_bytes, self._in_flight = [], 0, 0
        if self._paused:
            self._paused = False
            self.resume()
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            d.errback(failure)
        if self.on_failure is not None:
            self.on_failure(failure)

    def flush(self) -> Deferred[None]:
        """Fires once everything fed so far is written; fails with the first write error."""
        if self._failure is not None:
            d: Deferred[None] = Deferred()
            d.errback(self._failure)
            return d
        if not self._writing and not self._pending:
            return succeed(None)
        d = Deferred()
        self._waiters.append(d)
        if not self._writing:
            self._next()
        return d


@define
class TokenBucket:
    """A byte rate limit: C{delay(n)} says how long to wait before moving n more bytes."""

    rate: float  # bytes per second
    clock: IReactorTime
    burst: float = field(default=0.0)
    _tokens: float = field(default=0.0, init=False)
    _stamp: float | None = field(default=None, init=False)

    def __attrs_post_init__(self) -> None:
        if self.burst <= 0:
            self.burst = max(self.rate / 4, float(CHUNK))
        self._tokens = self.burst

    def delay(self, n: int) -> float:
        now = self.clock.seconds()
        if self._stamp is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        self._tokens -= n
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate


def sleep(clock: Any, seconds: float) -> Deferred[None]:
    from twisted.internet.task import deferLater

    return deferLater(clock, seconds, lambda: None)


@implementer(IPushProducer)
class WriteGate:
    """
    Registered with the transport as its producer: Twisted pauses it when the
    socket's send buffer fills and resumes it when it drains. L{ready} fires when
    writing may go on.
    """

    def __init__(self) -> None:
        self.paused = False
        self._waiting: list[Deferred[None]] = []
        self._lost: Exception | None = None

    def ready(self) -> Deferred[None]:
        if self._lost is not None:
            d: Deferred[None] = Deferred()
            d.errback(self._lost)
            return d
        if not self.paused:
            return succeed(None)
        d = Deferred()
        self._waiting.append(d)
        return d

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            if not self.paused:
                d.callback(None)
            else:
                self._waiting.append(d)

    def stopProducing(self) -> None:
        self.lost(ConnectionLost("the connection closed"))

    def lost(self, error: Exception) -> None:
        self._lost = error
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            d.errback(error)


class Pauser:
    """Pauses a source while any reason holds (backlog, rate, ...); resumes when none do."""

    def __init__(self, pause: Callable[[], None], resume: Callable[[], None]) -> None:
        self._pause, self._resume = pause, resume
        self._reasons: set[Any] = set()

    def pause(self, reason: Any) -> None:
        if not self._reasons:
            self._pause()
        self._reasons.add(reason)

    def resume(self, reason: Any) -> None:
        if reason in self._reasons:
            self._reasons.discard(reason)
            if not self._reasons:
                self._resume()

    def resume_all(self) -> None:
        if self._reasons:
            self._reasons.clear()
            self._resume()


BLOCK = 4 * CHUNK  # bytes read per trip to a thread: fewer hand-offs per MiB


def read_block(pread: Callable[[int, int], bytes], hasher: Any, position: int, end: int,
               changed: Callable[[], Exception]) -> list[bytes]:
    """
    Blocking: up to L{BLOCK} bytes from C{position}, as data-frame-sized chunks fed to
    C{hasher}; raises C{changed()} if the file is shorter than C{end}.
    """
    chunks = []
    stop = min(end, position + BLOCK)
    while position < stop:
        want = min(CHUNK, stop - position)
        data = pread(want, position)
        if len(data) != want:
            raise changed()
        if hasher is not None:
            hasher.update(data)
        chunks.append(data)
        position += want
    return chunks


async def pump(threads: ThreadRunner, read: Callable[[int], list[bytes]], start: int, end: int,
               deliver: Callable[[list[bytes], int], Any]) -> int:
    """
    Read [start, end) a block at a time in a thread, one block ahead of C{deliver}
    (awaited with the chunks and the position after them; it returns False to stop,
    and then those chunks count as not delivered). Memory: two blocks. Returns the
    position delivered up to.
    """
    position = start
    ahead: Deferred[list[bytes]] | None = threads.run(read, position) if position < end else None
    try:
        while ahead is not None:
            reading, ahead = ahead, None
            chunks = await reading
            after = position + sum(len(c) for c in chunks)
            ahead = threads.run(read, after) if after < end else None
            if await deliver(chunks, after) is False:
                break
            position = after
    finally:
        if ahead is not None:  # let a read under way end before the caller closes the file
            ahead.addErrback(lambda _: None)
            await ahead
    return position
