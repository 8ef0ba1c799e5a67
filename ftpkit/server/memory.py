"""
Keeping the server's resident memory down: fewer malloc arenas.

test-case-name: tests.unit.test_memory

glibc gives each thread that allocates its own arena (up to 8 per core), and each
arena keeps what it has freed. The server's threads (disk work, password checks,
argon2's lanes, zero-copy sends) would so grow many half-empty heaps: measured here,
about 1.8 KiB of resident memory per logged-in session at 300 sessions. Two arenas
are plenty for threads that mostly wait on the disk. MALLOC_ARENA_MAX in the
environment, if set, wins.

Public API: none (internal).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_ARENA_MAX = -8  # glibc's mallopt parameter
ARENAS = 2


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Ask glibc for at most C{arenas} arenas; False where that is not possible."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, arenas))
