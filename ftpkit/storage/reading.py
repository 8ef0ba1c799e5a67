"""
Files opened for download, with what a resumable download needs to know.

test-case-name: tests.unit.test_storage_transfer

Every method blocks; the transfer code calls them from a thread.

Public API: none directly; a L{LocalDownload} is used through
L{ftpkit.storage.interfaces.IDownload}.
"""

from __future__ import annotations

import os
from contextlib import suppress

from attrs import define, field
from zope.interface import implementer

from ftpkit.storage import checksums
from ftpkit.storage.interfaces import IDownload


@implementer(IDownload)
@define
class LocalDownload:
    """
    A regular file open for reading. C{version} names this exact content (inode,
    size, mtime): a resumed download continues only while it is unchanged.
    """

    path: str
    _fd: int
    _sums_fd: int
    _st: os.stat_result = field(init=False)
    closed: bool = field(default=False, init=False)

    def __attrs_post_init__(self) -> None:
        self._st = os.fstat(self._fd)

    @property
    def size(self) -> int:
        return self._st.st_size

    @property
    def version(self) -> str:
        st = self._st
        return f"{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}"

    def recorded(self, algorithm: str) -> str | None:
        return checksums.read_record(self._sums_fd, self._st, algorithm)

    def record(self, algorithm: str, digest: str) -> None:
        """Remember the digest, if the file has not changed while it was read."""
        now = os.fstat(self._fd)
        if (now.st_size, now.st_mtime_ns) == (self._st.st_size, self._st.st_mtime_ns):
            with suppress(OSError):
                checksums.write_record(self._sums_fd, now, algorithm, digest)

    def fileno(self) -> int:
        return self._fd

    def read(self, offset: int, length: int) -> bytes:
        return os.pread(self._fd, length, offset)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self._fd)
            os.close(self._sums_fd)
