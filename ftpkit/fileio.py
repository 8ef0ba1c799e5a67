"""
Blocking file I/O both ends of a transfer use: writing many buffers at once,
reading a range into memory, hashing a range of a file, and buffers to read into
that are reused from transfer to transfer.

test-case-name: tests.unit.test_transfer

Public API: none (internal).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

IOV_MAX = 1024  # os.writev takes at most this many buffers (Linux, macOS)
HASH_BLOCK = 1 << 20  # bytes read per system call when hashing


def write_all(fd: int, buffers: Sequence[bytes | memoryview]) -> int:
    """Write every buffer to C{fd}, in order, with as few system calls as it takes."""
    total = 0
    pending = [memoryview(b) for b in buffers if len(b)]
    while pending:
        batch = pending[:IOV_MAX]
        written = os.writev(fd, batch)
        total += written
        # drop what went out; a short write leaves the rest of one buffer
        done = 0
        while done < len(batch) and written >= len(batch[done]):
            written -= len(batch[done])
            done += 1
        pending = pending[done:]
        if written:
            pending[0] = pending[0][written:]
    return total


def read_exactly(fd: int, view: memoryview, position: int,
                 short: Callable[[], Exception]) -> memoryview:
    """Fill C{view} from C{fd} at C{position}; raises C{short()} if the file ends first."""
    filled = 0
    while filled < len(view):
        got = os.preadv(fd, [view[filled:]], position + filled)
        if not got:
            raise short()
        filled += got
    return view


def hash_range(fd: int, hasher: Any, start: int, end: int, short: Callable[[], Exception],
               buffer: memoryview | None = None) -> None:
    """
    Feed bytes [start, end) of C{fd} to C{hasher}, read into one reused buffer (no
    allocation per block); raises C{short()} if the file ends before C{end}.
    """
    buffer = buffer if buffer is not None else memoryview(bytearray(HASH_BLOCK))
    position = start
    while position < end:
        got = os.preadv(fd, [buffer[:min(len(buffer), end - position)]], position)
        if not got:
            raise short()
        hasher.update(buffer[:got])
        position += got


class BufferPool:
    """
    Buffers to read into, kept for reuse when given back (at most C{keep} of each
    size): N uploads of one frame each then touch a few frames' worth of fresh
    memory, not N. Thread-safe. Give a buffer back only once nothing reads it.
    """

    def __init__(self, keep: int = 8) -> None:
        self._keep = keep
        self._free: dict[int, list[bytearray]] = {}
        self._lock = threading.Lock()

    def take(self, size: int) -> memoryview:
        with self._lock:
            free = self._free.get(size)
            if free:
                return memoryview(free.pop())
        return memoryview(bytearray(size))

    def give(self, view: memoryview) -> None:
        """Return the buffer C{view} (or a slice of it) was taken as."""
        buffer = view.obj
        assert isinstance(buffer, bytearray)
        with self._lock:
            free = self._free.setdefault(len(buffer), [])
            if len(free) < self._keep:
                free.append(buffer)
