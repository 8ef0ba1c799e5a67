"""
The jailed local filesystem: each user's files live in one home directory.

test-case-name: tests.unit.test_storage_local

The jail. Every operation starts from a descriptor on the home and walks down one
component at a time with openat(O_DIRECTORY | O_NOFOLLOW); the last component is
then acted on relative to its parent's descriptor without following it (fstatat
with AT_SYMLINK_NOFOLLOW, mkdirat, unlinkat, renameat, open with O_NOFOLLOW).
Paths are canonical virtual paths (L{ftpkit.storage.paths}), so no component is
ever "..". Nothing is checked and then used: the kernel refuses a link at the very
moment it would be followed.

The policy: ftpkit never follows ANY symbolic link found inside a home. Users
cannot make links through ftpkit; links made by an admin show up in listings as
type "symlink" and may be removed or renamed, but never entered, read or written
through (C{outside_home}). This defeats links to "/", into another user's home,
and linked directories in the middle of a path, with no race between a check and
its use. The home itself may be a link made by an admin: it is resolved once, at
construction.

Errors name the virtual path, never the real one. All blocking work runs through
the injected thread runner.

Public API: none directly; commands use a L{LocalStorage} as L{IStorage}.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Collection, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from attrs import field, frozen
from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from ftpkit.protocol.errors import CommandError, ErrorCode
from ftpkit.storage import paths
from ftpkit.storage.interfaces import Entry, IDownload, IStorage, Page
from ftpkit.storage.listing import ListingCache
from ftpkit.storage.reading import LocalDownload
from ftpkit.storage.staging import STAGING, SUMS, LocalUpload, Staging, open_subdir, staged_bytes
from ftpkit.threads import ThreadRunner

_HOME_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_DIR_FLAGS = _HOME_FLAGS | os.O_NOFOLLOW
# O_NONBLOCK so that opening a fifo cannot hang; cleared once we know it is a file.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY

_ERRORS: dict[int, tuple[ErrorCode, str]] = {
    errno.ENOENT: (ErrorCode.NOT_FOUND, "{} does not exist"),
    errno.ENOTDIR: (ErrorCode.NOT_A_DIRECTORY, "{} is not a directory"),
    errno.EISDIR: (ErrorCode.IS_A_DIRECTORY, "{} is a directory"),
    errno.ENOTEMPTY: (ErrorCode.NOT_EMPTY, "{} is not empty"),
    errno.EEXIST: (ErrorCode.ALREADY_EXISTS, "{} already exists"),
    errno.EACCES: (ErrorCode.PERMISSION_DENIED, "permission denied: {}"),
    errno.EPERM: (ErrorCode.PERMISSION_DENIED, "permission denied: {}"),
    errno.ENOSPC: (ErrorCode.STORAGE_FULL, "no space left to store {}"),
    errno.EDQUOT: (ErrorCode.STORAGE_FULL, "no space left to store {}"),
    errno.ENAMETOOLONG: (ErrorCode.BAD_PATH, "{} is too long"),
    errno.ELOOP: (ErrorCode.OUTSIDE_HOME,
                  "{} is a symbolic link; ftpkit does not follow links"),
}
# rename(2) errors that are about the target rather than the source
_TARGET_ERRORS = {errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR, errno.ENOTDIR}


@contextmanager
def closing_fd(fd: int) -> Iterator[int]:
    try:
        yield fd
    finally:
        os.close(fd)


@contextmanager
def _mapped(vpath: str) -> Iterator[None]:
    """Turn an OSError with a known errno into a CommandError naming C{vpath}."""
    try:
        yield
    except OSError as err:
        if err.errno not in _ERRORS:
            raise
        code, message = _ERRORS[err.errno]
        raise CommandError(code, message.format(f"'{vpath}'")) from err


def _lstat(name: str, dir_fd: int) -> os.stat_result:
    return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)


def _step(fd: int, parts: tuple[str, ...], i: int) -> int:
    """Open directory C{parts[i]} beneath C{fd} (the directory C{parts[:i]}), never via a link."""
    with _mapped(paths.from_parts(parts[: i + 1])):
        try:
            return os.open(parts[i], _DIR_FLAGS, dir_fd=fd)
        except NotADirectoryError:  # Linux says ENOTDIR, not ELOOP, for a link here
            if _is_link(parts[i], fd):
                raise OSError(errno.ELOOP, "symbolic link") from None
            raise


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(_lstat(name, dir_fd).st_mode)
    except OSError:
        return False


def _climb(fd: int, expected: tuple[int, int]) -> int | None:
    """Open the parent of directory C{fd}, or None if it is not the C{expected} (dev, ino)."""
    parent = os.open("..", _DIR_FLAGS, dir_fd=fd)
    st = os.fstat(parent)
    if (st.st_dev, st.st_ino) == expected:
        return parent
    os.close(parent)
    return None


def _scan(fd: int) -> tuple[int, int, list[str]]:
    """Bytes and files directly in directory C{fd}, and its subdirectories' names."""
    size = files = 0
    subdirs = []
    with os.scandir(fd) as scan:
        for item in scan:
            try:
                st = item.stat(follow_symlinks=False)
            except FileNotFoundError:  # removed since it was listed
                continue
            if stat.S_ISDIR(st.st_mode):
                subdirs.append(item.name)
            else:
                files += 1
                size += st.st_size if stat.S_ISREG(st.st_mode) else 0
    return size, files, subdirs


def _entry(name: str, st: os.stat_result) -> Entry:
    return Entry.from_stat(name, st)


def _resolve_home(home: Path) -> Path:
    return Path(home).resolve()


# A sweep for abandoned uploads lists the whole staging area, and every put asks for
# one: with 1000 puts under way in one home, that was 2000 entries per put, and the
# N-client upload took three times pyftpdlib's. A sweep whose cutoff is less than this
# many seconds past the last one's is skipped: what went stale meanwhile waits a minute.
SWEEP_EVERY = 60.0


@implementer(IStorage)
@frozen
class LocalStorage:
    """The files beneath C{home}, jailed as the module docstring describes."""

    home: Path = field(converter=_resolve_home)
    _threads: ThreadRunner
    _listings: ListingCache = field(factory=ListingCache)
    _last_sweep: list[float] = field(factory=lambda: [float("-inf")], init=False)  # its cutoff

    # -- IStorage: each runs its blocking twin below through the thread runner --

    def stat(self, vpath: str) -> Deferred[Entry]:
        return self._threads.run(self._stat, vpath)

    def list(self, vpath: str, after: str | None, limit: int) -> Deferred[Page]:
        return self._threads.run(self._list, vpath, after, limit)

    def mkdir(self, vpath: str, parents: bool) -> Deferred[None]:
        return self._threads.run(self._mkdir, vpath, parents)

    def remove(self, vpath: str) -> Deferred[Entry]:
        return self._threads.run(self._remove, vpath)

    def rmdir(self, vpath: str) -> Deferred[None]:
        return self._threads.run(self._rmdir, vpath)

    def rename(self, src: str, dst: str) -> Deferred[tuple[str, Entry | None]]:
        return self._threads.run(self._rename, src, dst)

    def is_dir(self, vpath: str) -> Deferred[bool]:
        return self._threads.run(self._is_dir, vpath)

    def usage(self) -> Deferred[tuple[int, int]]:
        return self._threads.run(self._usage)

    def open_read(self, vpath: str) -> Deferred[int]:
        return self._threads.run(self._open_read, vpath)

    def start_upload(self, vpath: str, size: int, restart: bool, busy: Collection[str]
                     ) -> Deferred[tuple[LocalUpload, int]]:
        return self._threads.run(self._start_upload, vpath, size, restart, busy)

    def open_download(self, vpath: str) -> Deferred[IDownload]:
        return self._threads.run(self._open_download, vpath)

    def sweep_uploads(self, older_than: float, busy: Collection[str]) -> Deferred[int]:
        if older_than < self._last_sweep[0] + SWEEP_EVERY:
            return succeed(0)
        self._last_sweep[0] = older_than
        return self._threads.run(self._sweep_uploads, older_than, busy)

    def open_dir_fd(self, vpath: str) -> Deferred[int]:
        return self._threads.run(lambda: self._open_dir(paths.split(vpath)))

    # -- walking the jail ----------------------------------------------------

    def _open_home(self) -> int:
        with _mapped("/"):
            return os.open(self.home, _HOME_FLAGS)

    def _open_dir(self, parts: tuple[str, ...]) -> int:
        """A descriptor on the directory C{parts}, reached without following any link."""
        fd = self._open_home()
        try:
            for i in range(len(parts)):
                child = _step(fd, parts, i)
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    @contextmanager
    def _dir(self, parts: tuple[str, ...]) -> Iterator[int]:
        fd = self._open_dir(parts)
        try:
            yield fd
        finally:
            os.close(fd)

    def _lstat_path(self, parts: tuple[str, ...]) -> os.stat_result:
        with self._dir(parts[:-1]) as fd, _mapped(paths.from_parts(parts)):
            return _lstat(parts[-1], fd) if parts else os.fstat(fd)

    # -- the blocking operations -------------------------------------------------

    def _stat(self, vpath: str) -> Entry:
        parts = paths.split(vpath)
        return _entry(parts[-1] if parts else "/", self._lstat_path(parts))

    def _is_dir(self, vpath: str) -> bool:
        try:
            return stat.S_ISDIR(self._lstat_path(paths.split(vpath)).st_mode)
        except CommandError as e:
            if e.code in (ErrorCode.NOT_FOUND, ErrorCode.NOT_A_DIRECTORY):
                return False
            raise

    def _list(self, vpath: str, after: str | None, limit: int) -> Page:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        with self._dir(paths.split(vpath)) as fd:
            while True:
                names, more = self._listings.page(fd, after, limit,
                                                  hide=paths.RESERVED if vpath == "/" else None)
                entries = []
                for name in names:
                    with suppress(FileNotFoundError):  # removed since the scan
                        entries.append(_entry(name, _lstat(name, fd)))
                if entries or not more:  # never an empty page that says "more"
                    return entries, more
                after = names[-1]

    def _mkdir(self, vpath: str, parents: bool) -> None:
        parts = paths.split(vpath)
        if not parts:
            if parents:
                return
            raise CommandError(ErrorCode.ALREADY_EXISTS, "'/' (the home) already exists")
        fd = self._open_home()
        try:
            for i, part in enumerate(parts[:-1]):
                if parents:
                    with _mapped(paths.from_parts(parts[: i + 1])), suppress(FileExistsError):
                        os.mkdir(part, dir_fd=fd)
                child = _step(fd, parts, i)
                os.close(fd)
                fd = child
            with _mapped(vpath):
                try:
                    os.mkdir(parts[-1], dir_fd=fd)
                except FileExistsError:
                    if not parents or not stat.S_ISDIR(_lstat(parts[-1], fd).st_mode):
                        raise
        finally:
            os.close(fd)

    def _remove(self, vpath: str) -> Entry:
        parts = paths.split(vpath)
        if not parts:
            raise CommandError(ErrorCode.IS_A_DIRECTORY, "'/' is the home directory")
        with self._dir(parts[:-1]) as fd, _mapped(vpath):
            removed = _entry(parts[-1], _lstat(parts[-1], fd))
            os.unlink(parts[-1], dir_fd=fd)  # unlinkat: a link goes, never its target
        return removed

    def _rmdir(self, vpath: str) -> None:
        parts = paths.split(vpath)
        if not parts:
            raise CommandError(ErrorCode.PERMISSION_DENIED, "the home '/' cannot be removed")
        with self._dir(parts[:-1]) as fd, _mapped(vpath):
            os.rmdir(parts[-1], dir_fd=fd)

    def _rename(self, src: str, dst: str) -> tuple[str, Entry | None]:
        source, target = paths.split(src), paths.split(dst)
        if not source:
            raise CommandError(ErrorCode.PERMISSION_DENIED, "the home '/' cannot be moved")
        source_is_dir = stat.S_ISDIR(self._lstat_path(source).st_mode)
        if self._is_dir(dst):  # like mv: into an existing directory
            target = paths.split(paths.join(dst, source[-1]))
        if target == source:
            return src, None
        if source_is_dir and target[: len(source)] == source:
            raise CommandError(ErrorCode.BAD_PATH, f"cannot move '{src}' into itself")
        destination = paths.from_parts(target)
        with self._dir(source[:-1]) as src_fd, self._dir(target[:-1]) as dst_fd:
            try:
                replaced = _entry(target[-1], _lstat(target[-1], dst_fd))
            except FileNotFoundError:
                replaced = None
            try:
                os.rename(source[-1], target[-1], src_dir_fd=src_fd, dst_dir_fd=dst_fd)
            except OSError as err:
                if err.errno == errno.EINVAL:  # the tree changed under us: still into itself
                    raise CommandError(ErrorCode.BAD_PATH,
                                       f"cannot move '{src}' into itself") from err
                with _mapped(destination if err.errno in _TARGET_ERRORS else src):
                    raise
        return destination, replaced

    def _open_read(self, vpath: str) -> int:
        parts = paths.split(vpath)
        if not parts:
            raise CommandError(ErrorCode.IS_A_DIRECTORY, "'/' is a directory")
        with self._dir(parts[:-1]) as dir_fd, _mapped(vpath):
            fd = os.open(parts[-1], _READ_FLAGS, dir_fd=dir_fd)
        try:
            mode = os.fstat(fd).st_mode
            if stat.S_ISDIR(mode):
                raise CommandError(ErrorCode.IS_A_DIRECTORY, f"'{vpath}' is a directory")
            if not stat.S_ISREG(mode):
                raise CommandError(ErrorCode.PERMISSION_DENIED,
                                   f"'{vpath}' is not a regular file; ftpkit reads only files")
            os.set_blocking(fd, True)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _staging(self) -> Staging:
        with closing_fd(self._open_home()) as home:
            with _mapped("/"):
                staging_fd = open_subdir(home, STAGING)
                try:
                    return Staging(staging_fd, open_subdir(home, SUMS))
                except BaseException:
                    os.close(staging_fd)
                    raise

    def _start_upload(self, vpath: str, size: int, restart: bool, busy: Collection[str]
                      ) -> tuple[LocalUpload, int]:
        parts = paths.split(vpath)
        if not parts:
            raise CommandError(ErrorCode.IS_A_DIRECTORY, "'/' is a directory")
        replacing = 0  # the size of a file the upload will replace
        with self._dir(parts[:-1]) as fd, _mapped(vpath), suppress(FileNotFoundError):
            st = _lstat(parts[-1], fd)
            if stat.S_ISDIR(st.st_mode):
                raise CommandError(ErrorCode.IS_A_DIRECTORY, f"'{vpath}' is a directory")
            if stat.S_ISREG(st.st_mode):
                replacing = st.st_size
        staging = self._staging()
        try:
            if restart:
                stem = None
                freed = staging.discard([s for s in staging.stems(vpath) if s not in busy])
            else:
                stem, freed = staging.find(vpath, size, busy)
            offset = 0
            if stem is None:
                stem = staging.create(vpath, size)
            else:
                offset = os.stat(f"{stem}.part", dir_fd=staging.fd,
                                 follow_symlinks=False).st_size
            return LocalUpload(vpath, size, stem, offset, staging, self._open_dir,
                               replacing), freed
        except BaseException:
            staging.close()
            raise

    def _sweep_uploads(self, older_than: float, busy: Collection[str]) -> int:
        staging = self._staging()
        try:
            return staging.sweep(older_than, busy)
        finally:
            staging.close()

    def _open_download(self, vpath: str) -> LocalDownload:
        fd = self._open_read(vpath)
        try:
            with closing_fd(self._open_home()) as home, _mapped("/"):
                sums = open_subdir(home, SUMS)
        except BaseException:
            os.close(fd)
            raise
        return LocalDownload(vpath, fd, sums)

    def _usage(self) -> tuple[int, int]:
        """
        Depth-first with one descriptor open at a time: down by openat(O_NOFOLLOW),
        back up by "..", checked against the (dev, ino) seen on the way down. If a
        directory was moved meanwhile, the walk reopens its parent from the home.
        """
        size = files = 0
        below: list[str] = []  # the path of the directory at fd
        todo: list[list[str]] = []  # per level: subdirectories still to visit
        seen: list[tuple[int, int]] = []  # per level: (dev, ino)
        fd, entered = self._open_home(), True
        size += staged_bytes(fd)  # partial uploads count too; ftpkit's notes do not
        try:
            while True:
                if entered:
                    more_size, more_files, subdirs = _scan(fd)
                    if not seen:
                        subdirs = [d for d in subdirs if d != paths.RESERVED]
                    size, files = size + more_size, files + more_files
                    here = os.fstat(fd)
                    seen.append((here.st_dev, here.st_ino))
                    todo.append(subdirs)
                if todo[-1]:
                    name = todo[-1].pop()
                    try:
                        child = os.open(name, _DIR_FLAGS, dir_fd=fd)
                    except (FileNotFoundError, NotADirectoryError):  # changed since the scan
                        entered = False
                        continue
                    except OSError:  # e.g. unreadable: fail rather than undercount
                        with _mapped(paths.from_parts((*below, name))):
                            raise
                    below.append(name)
                    entered = True
                else:
                    todo.pop()
                    seen.pop()
                    if not todo:
                        return size, files
                    below.pop()
                    climbed = _climb(fd, seen[-1])
                    child = self._open_dir(tuple(below)) if climbed is None else climbed
                    entered = False
                os.close(fd)
                fd = child
        finally:
            os.close(fd)
