"""
Blocking file writes of many buffers at once (both ends of a transfer use it).

test-case-name: tests.unit.test_transfer

Public API: none (internal).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

IOV_MAX = 1024  # os.writev takes at most this many buffers (Linux, macOS)


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
