"""
Tuning memory for each end: glibc's malloc, and the server's garbage collector.

test-case-name: tests.unit.test_memory

The server: glibc gives each thread that allocates its own arena (up to 8 per core),
and each arena keeps what it has freed. The server's threads (disk work, password
checks, argon2's lanes, zero-copy sends) would so grow many half-empty heaps:
measured here, about 1.8 KiB of resident memory per logged-in session at 300
sessions. Two arenas are plenty for threads that mostly wait on the disk.

The client: a download receives into reads of up to 1 MiB that live until a thread
has written them; freed in bursts, they let the heap shrink and grow again, and
every regrowth faults in fresh zeroed pages. Keeping up to 64 MiB of freed heap
(and no mmap for blocks under 8 MiB) took a 1 GiB download from 0.9 to 0.65 s of
system time here. A long-running server does not want that memory kept; a client
process, which lives for its transfers, does.

Either yields to the MALLOC_* variables in the environment, if set.

The server's garbage collector: what is loaded at start (Twisted, the plugins, the
config) lives as long as the server, yet every full collection walked it again, on
the reactor thread: 35 ms each, measured here during 200 logins, long enough to
show in every session's latency. Frozen after start, it is never walked again.

Public API: none (internal).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import sys

# glibc's mallopt parameters
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
ARENAS = 2
KEEP_FREED = 64 * 1024 * 1024
MMAP_FROM = 8 * 1024 * 1024


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """For the server: at most C{arenas} arenas. False where that is not possible."""
    return _mallopt({M_ARENA_MAX: arenas}, "MALLOC_ARENA_MAX")


def keep_freed_heap(keep: int = KEEP_FREED, mmap_from: int = MMAP_FROM) -> bool:
    """For a client process: keep freed heap for reuse. False where not possible."""
    return _mallopt({M_TRIM_THRESHOLD: keep, M_MMAP_THRESHOLD: mmap_from},
                    "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")


def _mallopt(settings: dict[int, int], *env: str) -> bool:
    if not sys.platform.startswith("linux") or any(name in os.environ for name in env):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all([bool(mallopt(param, value)) for param, value in settings.items()])


def freeze_startup_objects() -> None:
    """For the server, once started: keep what exists now out of all later collections."""
    gc.collect()  # garbage frozen would never be freed
    gc.freeze()
