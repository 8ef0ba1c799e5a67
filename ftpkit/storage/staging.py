"""
Staged uploads: data lands in /.ftpkit/staging of the home, then renames into place.

test-case-name: tests.unit.test_storage_transfer

Each upload has its own staging file, C{<key>/<nonce>.part}, where the key is a
hash of the target path, beside a C{.json} note of the target and declared size. The
folder per key lets a put look only at the uploads of its own path: listing one flat
directory per put cost quadratic time with 1000 puts under way in one home. A key's
folder is removed once empty.
Nothing is visible at the target until L{LocalUpload.commit}: fsync the data,
rename it over the target (atomic: readers see the old file or the new one), fsync
the directory. A staged file survives a killed client or server and is found again
by the next upload of the same path and size, which resumes from its length.

Every method here blocks; the transfer code calls them from a thread.

Public API: none (internal to put).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import secrets
import stat
import time
from collections.abc import Callable, Collection, Sequence
from contextlib import suppress

from attrs import define, field

from ftpkit.fileio import hash_range, write_all
from ftpkit.protocol.errors import CommandError, ErrorCode
from ftpkit.storage import checksums, paths
from ftpkit.storage.interfaces import Entry

STAGING = "staging"
SUMS = "sums"
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_PART = os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
_CREATE_TRIES = 10  # a key's folder can vanish between its mkdir and the open


def open_subdir(home_fd: int, *names: str) -> int:
    """A descriptor on home/.ftpkit/<names...>, made (mode 0700) if missing."""
    fd = os.dup(home_fd)
    try:
        for name in (paths.RESERVED, *names):
            try:
                child = os.open(name, _DIR, dir_fd=fd)
            except FileNotFoundError:
                with suppress(FileExistsError):
                    os.mkdir(name, 0o700, dir_fd=fd)
                child = os.open(name, _DIR, dir_fd=fd)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _key(vpath: str) -> str:
    return hashlib.sha256(vpath.encode()).hexdigest()[:24]


def _read_note(staging_fd: int, stem: str) -> dict[str, object] | None:
    try:
        fd = os.open(f"{stem}.json", os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                     dir_fd=staging_fd)
    except OSError:
        return None
    try:
        note = json.loads(os.read(fd, 65536))
    except ValueError:
        return None
    finally:
        os.close(fd)
    return note if isinstance(note, dict) else None


def _exists(dir_fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _prune(staging_fd: int, stem: str) -> None:
    """Remove the folder of C{stem}'s key if nothing is left in it."""
    folder = stem.rpartition("/")[0]
    if folder:
        with suppress(OSError):  # not empty (another upload of the path), or gone
            os.rmdir(folder, dir_fd=staging_fd)


def _remove(staging_fd: int, stem: str) -> int:
    """Delete a staged upload; the bytes it held."""
    size = 0
    with suppress(FileNotFoundError):
        size = os.stat(f"{stem}.part", dir_fd=staging_fd, follow_symlinks=False).st_size
        os.unlink(f"{stem}.part", dir_fd=staging_fd)
    with suppress(FileNotFoundError):
        os.unlink(f"{stem}.json", dir_fd=staging_fd)
    _prune(staging_fd, stem)
    return size


def _stems_in(dir_fd: int, folder: str) -> list[str]:
    """The staged uploads in C{folder} (C{""}: the staging directory itself)."""
    try:
        fd = os.open(folder or ".", _DIR, dir_fd=dir_fd)
    except (FileNotFoundError, NotADirectoryError):
        return []
    prefix = f"{folder}/" if folder else ""
    try:
        with os.scandir(fd) as scan:
            return sorted({prefix + item.name[:-5] for item in scan
                           if item.name.endswith((".part", ".json"))})
    finally:
        os.close(fd)


def _folders(staging_fd: int) -> list[str]:
    with os.scandir(staging_fd) as scan:
        return sorted(item.name for item in scan if item.is_dir(follow_symlinks=False))


def _all_stems(staging_fd: int) -> list[str]:
    """
    Every staged upload: those in the folders per key, and any at the top of the
    staging directory, where builds before the folders staged them (swept, not resumed).
    """
    return [*_stems_in(staging_fd, ""),
            *(stem for folder in _folders(staging_fd) for stem in _stems_in(staging_fd, folder))]


def staged_bytes(home_fd: int) -> int:
    """The bytes held by every staged upload of this home (they count against quota)."""
    try:
        fd = os.open(os.path.join(paths.RESERVED, STAGING), _DIR, dir_fd=home_fd)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    total = 0
    try:
        for stem in _all_stems(fd):
            with suppress(FileNotFoundError):
                total += os.stat(f"{stem}.part", dir_fd=fd, follow_symlinks=False).st_size
    finally:
        os.close(fd)
    return total


@define
class Staging:
    """
    The staging directory of one home; see L{LocalStorage.start_upload}.

    An upload holds an exclusive lock (flock) on its C{.part} for as long as it has
    it open, and a staged upload is resumed, discarded or swept only by whoever can
    take that lock: two uploads never write one file, even when they start at the
    same moment in different sessions (or processes), or one starts while a cut
    one is still finishing its last write.
    """

    fd: int
    sums_fd: int
    _claimed: dict[str, int] = field(factory=dict)  # stem -> locked .part descriptor

    def close(self) -> None:
        for fd in self._claimed.values():
            os.close(fd)
        self._claimed.clear()
        os.close(self.fd)
        os.close(self.sums_fd)

    def claim(self, stem: str) -> bool:
        """Lock C{stem}'s .part for this upload; False if another holds it (or it is gone)."""
        if stem in self._claimed:
            return True
        try:
            fd = os.open(f"{stem}.part", _PART, dir_fd=self.fd)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._claimed[stem] = fd
        return True

    def take(self, stem: str) -> int:
        """The locked descriptor of a claimed C{stem}, now the caller's to close."""
        if not self.claim(stem):
            raise CommandError(ErrorCode.INTERNAL_ERROR, "a staged upload is in use")
        return self._claimed.pop(stem)

    def release(self, stem: str) -> None:
        fd = self._claimed.pop(stem, None)
        if fd is not None:
            os.close(fd)

    def _remove_claimed(self, stem: str) -> int:
        try:
            return _remove(self.fd, stem)
        finally:
            self.release(stem)

    def stems(self, vpath: str | None = None) -> list[str]:
        """The staged uploads of C{vpath} (a .part, a .json or both), or of every path."""
        return _stems_in(self.fd, _key(vpath)) if vpath is not None else _all_stems(self.fd)

    def find(self, vpath: str, size: int, busy: Collection[str]) -> tuple[str | None, int]:
        """
        The longest resumable staged upload of C{vpath} with C{size}, if any, and the
        bytes freed by discarding the others for C{vpath} (stale: another size).
        C{busy} names uploads under way, which are left alone.
        """
        best, best_len, freed = None, -1, 0
        for stem in self.stems(vpath):
            if stem in busy:
                continue
            if not self.claim(stem):
                if not _exists(self.fd, f"{stem}.part"):  # a note left by a crash
                    freed += _remove(self.fd, stem)
                continue  # else in use: this or another session's upload is writing it
            note = _read_note(self.fd, stem)
            try:
                length = os.stat(f"{stem}.part", dir_fd=self.fd, follow_symlinks=False).st_size
            except FileNotFoundError:
                length = -1
            if note is None or note.get("path") != vpath or note.get("size") != size \
                    or length < 0 or length > size:
                if note is None or note.get("path") == vpath:
                    freed += self._remove_claimed(stem)
                else:
                    self.release(stem)
                continue
            if length > best_len:
                if best is not None:
                    freed += self._remove_claimed(best)
                best, best_len = stem, length
            else:
                freed += self._remove_claimed(stem)
        return best, freed

    def create(self, vpath: str, size: int) -> str:
        key = _key(vpath)
        stem = f"{key}/{secrets.token_hex(4)}"
        note = json.dumps({"path": vpath, "size": size, "created": time.time()}).encode()
        # the .part first, locked: until its note is written, finders see it in use
        for _ in range(_CREATE_TRIES):
            with suppress(FileExistsError):
                os.mkdir(key, 0o700, dir_fd=self.fd)
            try:
                part = os.open(f"{stem}.part", _PART | os.O_CREAT | os.O_EXCL, 0o600,
                               dir_fd=self.fd)
                break
            except FileNotFoundError:  # the last upload of the path just removed the folder
                continue
        else:
            raise CommandError(ErrorCode.INTERNAL_ERROR, "could not make a staging file")
        fcntl.flock(part, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._claimed[stem] = part
        fd = os.open(f"{stem}.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600,
                     dir_fd=self.fd)
        try:
            os.write(fd, note)
        finally:
            os.close(fd)
        return stem

    def discard(self, stems: Sequence[str]) -> int:
        """Delete these staged uploads, except those another upload holds; bytes freed."""
        return sum(self._remove_claimed(stem) for stem in stems if self.claim(stem))

    def sweep(self, older_than: float, busy: Collection[str]) -> int:
        """Delete staged uploads idle since before C{older_than} (epoch); bytes freed."""
        freed = 0
        for stem in self.stems():
            if stem in busy or not self.claim(stem):
                continue
            try:
                idle_since = os.stat(f"{stem}.part", dir_fd=self.fd,
                                     follow_symlinks=False).st_mtime
            except FileNotFoundError:
                idle_since = 0
            if idle_since < older_than:
                freed += self._remove_claimed(stem)
            else:
                self.release(stem)
        for folder in _folders(self.fd):  # any left empty by a crash
            with suppress(OSError):
                os.rmdir(folder, dir_fd=self.fd)
        return freed


@define
class LocalUpload:
    """
    One staged upload, open for appending. C{offset} is what was staged before this
    attempt began; C{written} what has been appended since; C{replacing} the size of
    the file at the target when it began (0: none), which a commit frees.
    """

    path: str
    size: int
    stem: str
    offset: int
    _staging: Staging
    _open_dir: Callable[[tuple[str, ...]], int]
    replacing: int = 0
    _fd: int = field(init=False)
    written: int = field(default=0, init=False)
    closed: bool = field(default=False, init=False)

    def __attrs_post_init__(self) -> None:
        self._fd = self._staging.take(self.stem)  # locked: no other upload can write it

    @property
    def id(self) -> str:
        return self.stem

    def hash_prefix(self, hasher: checksums.Hasher) -> None:
        """Feed the bytes staged before this attempt to C{hasher}."""
        fd = os.open(f"{self.stem}.part", os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                     dir_fd=self._staging.fd)
        try:
            hash_range(fd, hasher, 0, self.offset,
                       lambda: CommandError(ErrorCode.INTERNAL_ERROR, "staged data vanished"))
        finally:
            os.close(fd)

    def append(self, chunks: Sequence[bytes | memoryview]) -> None:
        try:
            self.written += write_all(self._fd, chunks)
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise CommandError(ErrorCode.STORAGE_FULL,
                                   f"the server's disk is full; '{self.path}' was not stored"
                                   ) from e
            raise

    def commit(self, algorithm: str, digest: str) -> tuple[str, Entry | None]:
        """Make the staged file the target, durably; the entry it replaced, if any."""
        os.fsync(self._fd)
        st = os.fstat(self._fd)
        if st.st_size != self.size:  # never commit what is not exactly the declared file
            raise CommandError(ErrorCode.CHECKSUM_MISMATCH,
                               f"the staged data is {st.st_size} bytes, not the declared "
                               f"{self.size}; nothing was stored")
        parts = paths.split(self.path)
        dir_fd = self._open_dir(parts[:-1])
        try:
            replaced = None
            with suppress(FileNotFoundError):
                old = os.stat(parts[-1], dir_fd=dir_fd, follow_symlinks=False)
                if stat.S_ISDIR(old.st_mode):
                    raise CommandError(ErrorCode.IS_A_DIRECTORY,
                                       f"'{self.path}' is now a directory; nothing was stored")
                replaced = Entry.from_stat(parts[-1], old)
                checksums.forget_record(self._staging.sums_fd, old)
            checksums.write_record(self._staging.sums_fd, st, algorithm, digest)
            os.rename(f"{self.stem}.part", parts[-1], src_dir_fd=self._staging.fd,
                      dst_dir_fd=dir_fd)
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        with suppress(FileNotFoundError):
            os.unlink(f"{self.stem}.json", dir_fd=self._staging.fd)
        _prune(self._staging.fd, self.stem)
        self.close()
        return self.path, replaced

    def discard(self) -> int:
        """Delete the staged data; the bytes freed."""
        if not self.closed:
            os.close(self._fd)
        try:
            return _remove(self._staging.fd, self.stem)
        finally:
            if not self.closed:
                self.closed = True
                self._staging.close()

    def close(self) -> None:
        """Stop writing; the staged data stays for a later resume."""
        if not self.closed:
            self.closed = True
            os.close(self._fd)
            self._staging.close()
