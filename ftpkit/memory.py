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

A password worker: each argon2id check allocates 64 MiB, above the largest mmap
threshold glibc allows (32 MiB), so every check mapped a fresh block and unmapped it
after, and the kernel zeroed 16 384 new pages each time: a quarter of a check's CPU
here (and on a VM that hands freed pages back to its host, a host fault for each).
With no mmap at all and a high trim threshold the block stays on the heap between
checks; the worker gives it back (malloc_trim) once it is idle.

Each yields to the MALLOC_* variables in the environment, if set.

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
from collections.abc import Callable

# glibc's mallopt parameters
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -3, -4, -8
ARENAS = 2
KEEP_FREED = 64 * 1024 * 1024
MMAP_FROM = 8 * 1024 * 1024
KEEP_LARGE = 1024 * 1024 * 1024  # a password worker's trim threshold: argon2's block stays


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """For the server: at most C{arenas} arenas. False where that is not possible."""
    return _mallopt({M_ARENA_MAX: arenas}, "MALLOC_ARENA_MAX")


def keep_freed_heap(keep: int = KEEP_FREED, mmap_from: int = MMAP_FROM) -> bool:
    """For a client process: keep freed heap for reuse. False where not possible."""
    return _mallopt({M_TRIM_THRESHOLD: keep, M_MMAP_THRESHOLD: mmap_from},
                    "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")


def keep_large_blocks(keep: int = KEEP_LARGE) -> Callable[[], object] | None:
    """
    For a password worker: large blocks come from the heap and stay there. Returns
    what gives the heap back to the system, or None where this is not possible.
    """
    if not _mallopt({M_MMAP_MAX: 0, M_TRIM_THRESHOLD: keep},
                    "MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_"):
        return None
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is None:
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return lambda: trim(0)


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name is not None else None
    except OSError:
        return None


def _mallopt(settings: dict[int, int], *env: str) -> bool:
    if not sys.platform.startswith("linux") or any(name in os.environ for name in env):
        return False
    mallopt = getattr(_libc(), "mallopt", None)  # musl has none
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all([bool(mallopt(param, value)) for param, value in settings.items()])


def freeze_startup_objects() -> None:
    """For the server, once started: keep what exists now out of all later collections."""
    gc.collect()  # garbage frozen would never be freed
    gc.freeze()
