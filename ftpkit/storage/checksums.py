"""
Whole-file checksums: the algorithms, and the digests recorded beside a home.

test-case-name: tests.unit.test_storage_transfer

A digest is recorded when an upload commits, and when a download has hashed a
whole file, in C{/.ftpkit/sums/<dev>-<ino>} of the home. A record holds the file's
size and mtime (ns) at the time: it is used only while both still match, so a file
changed by any means is hashed afresh. Renames keep the inode, so a moved file
keeps its digest.

Public API: none (internal; a command gets recorded digests through
L{ftpkit.storage.interfaces.IDownload}).
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Protocol

import blake3

from ftpkit.protocol.errors import CommandError, ErrorCode

# BLAKE3 is the default: as collision-resistant as SHA-256 for this purpose and about
# five times faster per core (6 GB/s against 1.1 GB/s here), so verifying every
# byte on both ends costs little next to moving it. Both release the GIL.
ALGORITHMS = ("blake3", "sha256")
DEFAULT_ALGORITHM = "blake3"


class Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> object: ...

    def hexdigest(self) -> str: ...

    def copy(self) -> Hasher: ...


def new_hasher(algorithm: str) -> Hasher:
    if algorithm == "blake3":
        return blake3.blake3()
    if algorithm == "sha256":
        return hashlib.sha256()
    raise CommandError(ErrorCode.BAD_REQUEST, f"unknown checksum algorithm {algorithm!r}; "
                                              f"this server offers {', '.join(ALGORITHMS)}")


def _record_name(st: os.stat_result) -> str:
    return f"{st.st_dev:x}-{st.st_ino:x}"


def read_record(sums_fd: int, st: os.stat_result, algorithm: str) -> str | None:
    """The recorded digest of the file whose fstat is C{st}, if still valid."""
    try:
        fd = os.open(_record_name(st), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                     dir_fd=sums_fd)
    except OSError:
        return None
    try:
        record: dict[str, Any] = json.loads(os.read(fd, 4096))
    except ValueError:
        return None
    finally:
        os.close(fd)
    if (record.get("size"), record.get("mtime_ns"), record.get("algorithm")) != (
            st.st_size, st.st_mtime_ns, algorithm):
        return None
    digest = record.get("digest")
    return digest if isinstance(digest, str) else None


def write_record(sums_fd: int, st: os.stat_result, algorithm: str, digest: str) -> None:
    name = _record_name(st)
    body = json.dumps({"size": st.st_size, "mtime_ns": st.st_mtime_ns,
                       "algorithm": algorithm, "digest": digest}).encode()
    tmp = f"{name}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600, dir_fd=sums_fd)
    try:
        os.write(fd, body)
    finally:
        os.close(fd)
    os.rename(tmp, name, src_dir_fd=sums_fd, dst_dir_fd=sums_fd)


def forget_record(sums_fd: int, st: os.stat_result) -> None:
    try:
        os.unlink(_record_name(st), dir_fd=sums_fd)
    except FileNotFoundError:
        pass
