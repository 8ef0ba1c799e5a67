"""
The storage interface: what commands may do to a user's files.

test-case-name: tests.unit.test_storage_local

Commands never touch the filesystem; they call the L{IStorage} provider they reach
through the user's avatar. Every path given to it is a canonical virtual path (see
L{ftpkit.storage.paths.resolve}); a non-canonical one fails with C{bad_path}.
Failures are L{ftpkit.protocol.errors.CommandError} whose codes are listed per
method; an unexpected OS error fails the Deferred with itself (answered upstream
with C{internal_error}, and logged).

Errors common to every method: C{bad_path} (invalid or non-canonical path),
C{not_found} or C{not_a_directory} (a parent directory is missing or is a file),
C{outside_home} (a component is a symbolic link, never followed),
C{permission_denied} (the OS refused).

Public API: L{IStorage} (the methods declared here), L{IDownload}, L{Entry},
L{Page}. A provider may have more methods (the transfer commands' uploads); those
are not part of it.
"""

from __future__ import annotations

import os
import stat
from typing import Literal

from attrs import frozen
from twisted.internet.defer import Deferred
from zope.interface import Attribute, Interface

EntryType = Literal["file", "dir", "symlink", "other"]


@frozen
class Entry:
    """One directory entry, as seen without following links."""

    name: str  # the last component; "/" for the home itself
    type: EntryType
    size: int  # bytes for a regular file; 0 for anything else
    mtime: float  # seconds since the epoch

    @classmethod
    def from_stat(cls, name: str, st: os.stat_result) -> Entry:
        mode = st.st_mode
        kind: EntryType = (
            "file" if stat.S_ISREG(mode)
            else "dir" if stat.S_ISDIR(mode)
            else "symlink" if stat.S_ISLNK(mode)
            else "other"
        )
        return cls(name, kind, st.st_size if kind == "file" else 0, st.st_mtime)


Page = tuple[list[Entry], bool]
"""One page of a listing: the entries in name order, and whether more follow."""


class IStorage(Interface):
    """A user's home directory, which they can never leave."""

    def stat(vpath: str) -> Deferred[Entry]:
        """
        Fires with the L{Entry} for C{vpath}. A final symbolic link is not followed:
        it is reported with type "symlink".
        """

    def list(vpath: str, after: str | None, limit: int) -> Deferred[Page]:
        """
        Fires with a L{Page}: at most C{limit} (>= 1) entries of directory C{vpath}
        in code point order of name, starting strictly after the name C{after}
        (from the start when None), and whether more entries follow. Memory is
        bounded by C{limit}, not by the size of the directory. Names ftpkit cannot
        address (not UTF-8, control characters) are left out.
        Fails with C{not_a_directory}, or C{outside_home} if C{vpath} is a link.
        """

    def mkdir(vpath: str, parents: bool) -> Deferred[None]:
        """
        Fires with None once directory C{vpath} exists. Without C{parents} the
        parent must exist and C{vpath} must not (C{already_exists}); with it,
        missing parents are made and an existing directory is fine (like mkdir -p).
        Fails with C{storage_full} when the disk is.
        """

    def remove(vpath: str) -> Deferred[Entry]:
        """
        Fires with the L{Entry} removed, once the file or symbolic link C{vpath} is
        gone (a link is removed itself, never its target). Fails with
        C{is_a_directory}.
        """

    def rmdir(vpath: str) -> Deferred[None]:
        """
        Fires with None once the empty directory C{vpath} is removed. Fails with
        C{not_empty}, C{not_a_directory}, or C{permission_denied} for "/".
        """

    def rename(src: str, dst: str) -> Deferred[tuple[str, Entry | None]]:
        """
        Fires with C{(final path, replaced entry or None)} once C{src} is moved to
        C{dst}, like mv: if C{dst} is an existing directory, C{src} moves inside
        it; an existing file at the target is replaced (and returned, so quota can
        be credited). Fails with C{not_found} (C{src} or the target's parent is
        missing), C{bad_path} (a directory moved into itself),
        C{permission_denied} (C{src} is "/"), C{is_a_directory}, C{not_a_directory}
        or C{not_empty} (the target cannot be replaced).
        """

    def is_dir(vpath: str) -> Deferred[bool]:
        """
        Fires with True if C{vpath} is a directory, False if it is missing or is
        anything else (a symbolic link to a directory included). A link in the
        middle of the path still fails with C{outside_home}.
        """

    def usage() -> Deferred[tuple[int, int]]:
        """
        Fires with C{(bytes, files)} for the whole home: bytes is the sum of
        st_size of regular files (apparent size, not blocks allocated); files
        counts every entry that is not a directory (symbolic links included, with
        size 0, never followed). Iterative, so any depth of tree is fine. Fails with
        C{permission_denied} if a directory cannot be read, rather than undercount.
        """

    def open_read(vpath: str) -> Deferred[int]:
        """
        Fires with a blocking file descriptor open read-only on the regular file
        C{vpath}; the caller must close it. Fails with C{is_a_directory},
        C{outside_home} for a link, C{permission_denied} for a device or fifo.
        """

    def open_download(vpath: str) -> Deferred[IDownload]:
        """
        Fires with an L{IDownload} open on the regular file C{vpath}; the caller
        must close it. Fails like L{open_read}.
        """

    def open_dir_fd(vpath: str) -> Deferred[int]:
        """
        Fires with a file descriptor open on directory C{vpath} (for *at() calls);
        the caller must close it. Fails with C{not_a_directory}, or
        C{outside_home} if C{vpath} is a link.
        """


class IDownload(Interface):
    """
    A regular file open for reading, from L{IStorage.open_download}. Every method
    blocks: call them through C{context.threads.run}, never on the reactor thread.
    """

    path = Attribute("str: the virtual path it was opened as")
    size = Attribute("int: the size in bytes when it was opened")
    version = Attribute("str: names this exact content (changes when the file does)")

    def read(offset: int, length: int) -> bytes:
        """At most C{length} bytes from C{offset}; fewer only at the end of the file."""

    def recorded(algorithm: str) -> str | None:
        """
        The hex digest of the whole file recorded earlier (by an upload, or a
        download that hashed it), if one was for C{algorithm} and the file has not
        changed since; else None.
        """

    def record(algorithm: str, digest: str) -> None:
        """
        Remember C{digest} as the whole file's, if the file is unchanged since it
        was opened. One digest is kept per file: record only the server's transfer
        algorithm (C{context.config.checksum}), or you displace the one transfers use.
        """

    def fileno() -> int:
        """
        The open file's descriptor, for the server's zero-copy sending (sendfile);
        valid until close(). Not for reading: use read().
        """

    def close() -> None:
        """Release the file; further calls are errors. Closing twice is fine."""
