"""
Sorted directory listings that page in O(page) after the first, with bounded memory.

test-case-name: tests.unit.test_storage_listing

Paging a listing statelessly ("the entries after NAME") needs the directory in
name order. Without help, every page costs a scan of the whole directory, so
listing n entries in pages of k costs O(n^2/k). A L{ListingCache} keeps the
sorted names of large directories, keyed by the directory's identity and change
times, so later pages are a binary search. It holds at most C{max_names} names
in all (least recently used go first); a directory larger than that is paged by
a bounded scan instead (C{heapq.nsmallest}), which costs time, not memory.

A directory changed within the last C{settle} seconds is not cached: file times
tick coarsely (a few ms), so a change right after the scan could leave the
directory's times unchanged and the cached names stale.

Public API: none (internal; commands list through L{IStorage.list}).
"""

from __future__ import annotations

import bisect
import heapq
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator

from attrs import define, field

from ftpkit.storage import paths

Key = tuple[int, int, int, int]


def _names(fd: int, after: str | None = None, hide: str | None = None) -> Iterator[str]:
    with os.scandir(fd) as scan:
        for item in scan:
            name = item.name
            if (after is None or name > after) and name != hide and paths.is_valid_name(name):
                yield name


@define
class ListingCache:
    max_names: int = 2_000_000
    settle: float = 1.0
    _lists: OrderedDict[Key, list[str]] = field(factory=OrderedDict, init=False)
    _total: int = field(default=0, init=False)
    _lock: threading.Lock = field(factory=threading.Lock, init=False)

    def page(self, fd: int, after: str | None, limit: int, hide: str | None = None
             ) -> tuple[list[str], bool]:
        """
        Names of directory C{fd} after C{after}, at most C{limit}, and whether more
        follow; the name C{hide} is left out.
        """
        st = os.fstat(fd)
        key = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
        with self._lock:
            names = self._lists.get(key)
            if names is not None:
                self._lists.move_to_end(key)
        if names is None:
            if after is None:
                first = heapq.nsmallest(limit + 1, _names(fd, hide=hide))
                if len(first) <= limit:  # small: no cache needed
                    return first, False
            names = sorted(_names(fd, hide=hide))
            if len(names) > self.max_names:  # too big to hold: bounded scan per page
                del names
                page = heapq.nsmallest(limit + 1, _names(fd, after, hide))
                return page[:limit], len(page) > limit
            if time.time() - st.st_mtime > self.settle:
                self._keep(key, names)
        start = 0 if after is None else bisect.bisect_right(names, after)
        return names[start:start + limit], start + limit < len(names)

    def _keep(self, key: Key, names: list[str]) -> None:
        with self._lock:
            if key in self._lists:
                return
            self._lists[key] = names
            self._total += len(names)
            while self._total > self.max_names:
                _, dropped = self._lists.popitem(last=False)
                self._total -= len(dropped)
