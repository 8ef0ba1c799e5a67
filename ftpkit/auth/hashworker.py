"""
A password-check worker: C{python -m ftpkit.auth.hashworker NICE}.

test-case-name: tests.unit.test_verifier

Lowers its own priority by NICE, then answers one line per line read on stdin:
the request is the JSON array C{[stored_hash, password]}, the answer C{1} if the
password matches and C{0} if not. It exits at the end of its input, so it never
outlives the server that started it. See L{ftpkit.auth.verifier}.

It keeps argon2's 64 MiB on its heap between checks (L{ftpkit.memory.keep_large_blocks})
and gives it back once it has been idle for L{IDLE_RELEASE} seconds.
"""

from __future__ import annotations

import json
import os
import select
import sys
from collections.abc import Callable, Iterator

from ftpkit.auth.passwords import PasswordHasher
from ftpkit.memory import keep_large_blocks

IDLE_RELEASE = 2.0  # seconds without a check before the heap goes back to the system


def requests(fd: int, release: Callable[[], object] | None,
             idle: float = IDLE_RELEASE) -> Iterator[bytes]:
    """Lines read from C{fd}; C{release()} once after each C{idle} seconds without one."""
    pending = b""
    held = False  # memory used by a check since the last release
    while True:
        while b"\n" not in pending:
            if held and release and not select.select([fd], [], [], idle)[0]:
                release()
                held = False
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                return
            pending += chunk
        line, pending = pending.split(b"\n", 1)
        held = True
        yield line


def main(argv: list[str]) -> None:
    try:
        os.nice(int(argv[1]) if len(argv) > 1 else 0)
    except (AttributeError, OSError):  # no os.nice (Windows), or not allowed
        pass
    release = keep_large_blocks()
    hasher = PasswordHasher()
    out = sys.stdout
    for line in requests(sys.stdin.fileno(), release):
        stored_hash, password = json.loads(line)
        out.write("1\n" if hasher.verify(stored_hash, password) else "0\n")
        out.flush()


if __name__ == "__main__":
    main(sys.argv)
