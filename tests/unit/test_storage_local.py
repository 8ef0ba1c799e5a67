"""The jailed local filesystem, driven synchronously through InlineThreads."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.defer import Deferred
from zope.interface.verify import verifyObject

from ftpkit.protocol.errors import CommandError, ErrorCode
from ftpkit.storage import local
from ftpkit.storage.interfaces import Entry, IDownload, IStorage
from ftpkit.storage.local import LocalStorage
from ftpkit.threads import InlineThreads
from tests.serverkit import result_of as result


def error(d: Deferred[Any], code: str) -> CommandError:
    """The CommandError an already-fired Deferred failed with; it must have C{code}."""
    with pytest.raises(CommandError) as info:
        result(d)
    assert info.value.code == code, info.value.message
    return info.value


@pytest.fixture(autouse=True)
def no_leaked_fds(tmp_path: Path) -> Iterator[None]:
    """Every operation, failed or not, closes the descriptors it opened."""
    yield
    leaked = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/self/fd/{fd}").startswith(str(tmp_path)):
                leaked.append(fd)
    assert not leaked


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """alice's home: a file, a nested directory, and bob's secret next door."""
    (tmp_path / "alice" / "docs" / "deep").mkdir(parents=True)
    (tmp_path / "alice" / "a.txt").write_bytes(b"hello")
    (tmp_path / "alice" / "docs" / "deep" / "b.bin").write_bytes(b"x" * 1000)
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "secret.txt").write_text("bob's secret")
    return tmp_path / "alice"


@pytest.fixture
def storage(home: Path) -> LocalStorage:
    return LocalStorage(home, InlineThreads())


def names(storage: LocalStorage, vpath: str = "/") -> list[str]:
    entries, more = result(storage.list(vpath, None, 1000))
    assert not more
    return [e.name for e in entries]


def test_provides_istorage(storage: LocalStorage) -> None:
    assert verifyObject(IStorage, storage)


def test_open_download_provides_idownload(storage: LocalStorage) -> None:
    download = result(storage.open_download("/a.txt"))
    try:
        assert verifyObject(IDownload, download)
        assert (download.path, download.size, download.read(1, 3)) == ("/a.txt", 5, b"ell")
        assert download.recorded("sha256") is None
    finally:
        download.close()
    download.close()  # twice is fine


# -- stat, is_dir, list --------------------------------------------------------


def test_stat(storage: LocalStorage, home: Path) -> None:
    entry = result(storage.stat("/a.txt"))
    assert entry == Entry("a.txt", "file", 5, (home / "a.txt").stat().st_mtime)
    assert result(storage.stat("/docs")).type == "dir"
    assert result(storage.stat("/docs")).size == 0
    assert result(storage.stat("/")).name == "/"
    assert result(storage.stat("/")).type == "dir"
    error(storage.stat("/nope"), ErrorCode.NOT_FOUND)
    error(storage.stat("/a.txt/x"), ErrorCode.NOT_A_DIRECTORY)
    error(storage.stat("/docs/../a.txt"), ErrorCode.BAD_PATH)


def test_stat_of_a_fifo(storage: LocalStorage, home: Path) -> None:
    os.mkfifo(home / "pipe")
    assert result(storage.stat("/pipe")).type == "other"


def test_is_dir(storage: LocalStorage) -> None:
    assert result(storage.is_dir("/"))
    assert result(storage.is_dir("/docs/deep"))
    assert not result(storage.is_dir("/a.txt"))
    assert not result(storage.is_dir("/nope"))
    assert not result(storage.is_dir("/nope/nope"))
    assert not result(storage.is_dir("/a.txt/x"))


def test_list(storage: LocalStorage, home: Path) -> None:
    for n in ["b", "B", "日本語.txt", "🎉", "a b"]:
        (home / n).touch()
    assert names(storage) == ["B", "a b", "a.txt", "b", "docs", "日本語.txt", "🎉"]
    entries, more = result(storage.list("/", "a.txt", 2))
    assert [e.name for e in entries] == ["b", "docs"] and more
    entries, more = result(storage.list("/", "docs", 2))
    assert [e.name for e in entries] == ["日本語.txt", "🎉"] and not more
    assert result(storage.list("/", "🎉", 2)) == ([], False)
    assert names(storage, "/docs/deep") == ["b.bin"]
    assert result(storage.list("/docs/deep", None, 1))[0][0].size == 1000


def test_list_errors(storage: LocalStorage) -> None:
    error(storage.list("/a.txt", None, 10), ErrorCode.NOT_A_DIRECTORY)
    error(storage.list("/nope", None, 10), ErrorCode.NOT_FOUND)
    with pytest.raises(ValueError):
        result(storage.list("/", None, 0))


def test_list_leaves_out_names_ftpkit_cannot_address(storage: LocalStorage, home: Path) -> None:
    (home / "new\nline").touch()
    os.close(os.open(os.fsencode(home) + b"/bad\xff", os.O_CREAT | os.O_WRONLY))
    assert names(storage) == ["a.txt", "docs"]
    assert result(storage.usage())[1] == 4  # still counted


def test_paging_a_big_directory(storage: LocalStorage, home: Path) -> None:
    big = home / "big"
    big.mkdir()
    expected = sorted(f"{i:05x}" for i in range(2500))
    for n in expected:
        (big / n).touch()
    seen: list[str] = []
    after, more = None, True
    while more:
        entries, more = result(storage.list("/big", after, 1000))
        assert len(entries) <= 1000
        seen += [e.name for e in entries]
        after = seen[-1]
    assert seen == expected


# -- mkdir, remove, rmdir ------------------------------------------------------


def test_mkdir(storage: LocalStorage, home: Path) -> None:
    assert result(storage.mkdir("/new", False)) is None
    assert (home / "new").is_dir()
    error(storage.mkdir("/new", False), ErrorCode.ALREADY_EXISTS)
    error(storage.mkdir("/a.txt", False), ErrorCode.ALREADY_EXISTS)
    error(storage.mkdir("/x/y", False), ErrorCode.NOT_FOUND)
    error(storage.mkdir("/a.txt/y", False), ErrorCode.NOT_A_DIRECTORY)
    error(storage.mkdir("/", False), ErrorCode.ALREADY_EXISTS)


def test_mkdir_parents(storage: LocalStorage, home: Path) -> None:
    result(storage.mkdir("/x/y/z", True))
    assert (home / "x" / "y" / "z").is_dir()
    result(storage.mkdir("/x/y/z", True))  # like mkdir -p
    result(storage.mkdir("/", True))
    error(storage.mkdir("/a.txt", True), ErrorCode.ALREADY_EXISTS)
    error(storage.mkdir("/a.txt/y", True), ErrorCode.NOT_A_DIRECTORY)


def test_remove(storage: LocalStorage, home: Path) -> None:
    removed = result(storage.remove("/a.txt"))
    assert (removed.name, removed.type, removed.size) == ("a.txt", "file", 5)
    assert not (home / "a.txt").exists()
    error(storage.remove("/a.txt"), ErrorCode.NOT_FOUND)
    error(storage.remove("/docs"), ErrorCode.IS_A_DIRECTORY)
    error(storage.remove("/"), ErrorCode.IS_A_DIRECTORY)


def test_rmdir(storage: LocalStorage, home: Path) -> None:
    error(storage.rmdir("/docs"), ErrorCode.NOT_EMPTY)
    error(storage.rmdir("/a.txt"), ErrorCode.NOT_A_DIRECTORY)
    error(storage.rmdir("/nope"), ErrorCode.NOT_FOUND)
    error(storage.rmdir("/"), ErrorCode.PERMISSION_DENIED)
    result(storage.remove("/docs/deep/b.bin"))
    result(storage.rmdir("/docs/deep"))
    assert not (home / "docs" / "deep").exists()


# -- rename --------------------------------------------------------------------


def test_rename(storage: LocalStorage, home: Path) -> None:
    assert result(storage.rename("/a.txt", "/c.txt")) == ("/c.txt", None)
    assert (home / "c.txt").read_bytes() == b"hello"
    assert result(storage.rename("/c.txt", "/docs")) == ("/docs/c.txt", None)  # into it
    assert (home / "docs" / "c.txt").read_bytes() == b"hello"
    result(storage.rename("/docs/c.txt", "/"))
    assert (home / "c.txt").exists()
    result(storage.rename("/docs/deep", "/shallow"))
    assert (home / "shallow" / "b.bin").exists()
    result(storage.rename("/c.txt", "/c.txt"))
    assert (home / "c.txt").exists()


def test_rename_replaces_a_file(storage: LocalStorage, home: Path) -> None:
    (home / "old.txt").write_text("old")
    final, replaced = result(storage.rename("/a.txt", "/old.txt"))
    assert final == "/old.txt" and replaced is not None
    assert (replaced.name, replaced.type, replaced.size) == ("old.txt", "file", 3)
    assert (home / "old.txt").read_bytes() == b"hello"


def test_rename_errors(storage: LocalStorage, home: Path) -> None:
    error(storage.rename("/nope", "/x"), ErrorCode.NOT_FOUND)
    error(storage.rename("/a.txt", "/nope/x"), ErrorCode.NOT_FOUND)
    error(storage.rename("/a.txt", "/a.txt/x"), ErrorCode.NOT_A_DIRECTORY)
    error(storage.rename("/", "/x"), ErrorCode.PERMISSION_DENIED)
    error(storage.rename("/docs", "/docs"), ErrorCode.BAD_PATH)  # would be /docs/docs
    error(storage.rename("/docs", "/docs/deep"), ErrorCode.BAD_PATH)
    error(storage.rename("/docs", "/docs/deep/x"), ErrorCode.BAD_PATH)
    (home / "full").mkdir()
    (home / "full" / "docs").mkdir()
    (home / "full" / "docs" / "f").touch()
    error(storage.rename("/docs", "/full"), ErrorCode.NOT_EMPTY)
    (home / "full" / "a.txt").mkdir()
    error(storage.rename("/a.txt", "/full"), ErrorCode.IS_A_DIRECTORY)
    assert (home / "docs" / "deep" / "b.bin").exists()
    assert (home / "a.txt").exists()


def test_rename_a_directory_beside_itself_is_fine(storage: LocalStorage, home: Path) -> None:
    result(storage.rename("/docs", "/docs2"))  # a prefix of the name, not of the path
    assert (home / "docs2" / "deep").is_dir()


# -- open_read, open_dir_fd ----------------------------------------------------


def test_open_read(storage: LocalStorage) -> None:
    fd = result(storage.open_read("/docs/deep/b.bin"))
    try:
        assert os.read(fd, 2000) == b"x" * 1000
        assert os.get_blocking(fd)
    finally:
        os.close(fd)
    error(storage.open_read("/docs"), ErrorCode.IS_A_DIRECTORY)
    error(storage.open_read("/"), ErrorCode.IS_A_DIRECTORY)
    error(storage.open_read("/nope"), ErrorCode.NOT_FOUND)


def test_open_read_refuses_a_fifo_without_hanging(storage: LocalStorage, home: Path) -> None:
    os.mkfifo(home / "pipe")
    error(storage.open_read("/pipe"), ErrorCode.PERMISSION_DENIED)


def test_open_dir_fd(storage: LocalStorage, home: Path) -> None:
    fd = result(storage.open_dir_fd("/docs/deep"))
    try:
        assert os.listdir(fd) == ["b.bin"]
    finally:
        os.close(fd)
    error(storage.open_dir_fd("/a.txt"), ErrorCode.NOT_A_DIRECTORY)


# -- usage -----------------------------------------------------------------------


def test_usage(storage: LocalStorage, home: Path) -> None:
    assert result(storage.usage()) == (1005, 2)
    (home / "docs" / "c").write_bytes(b"abc")
    (home / "empty").mkdir()
    os.symlink(home / "docs", home / "docs" / "deep" / "loop")  # never followed
    assert result(storage.usage()) == (1008, 4)


def test_usage_of_an_empty_home(tmp_path: Path) -> None:
    assert result(LocalStorage(tmp_path, InlineThreads()).usage()) == (0, 0)


@pytest.fixture
def deep(home: Path) -> Iterator[int]:
    """A chain of 3000 directories under /deep (deeper than PATH_MAX and the stack)."""
    depth = 3000
    fds = [os.open(home, os.O_RDONLY | os.O_DIRECTORY)]
    for _ in range(depth):
        os.mkdir("d", dir_fd=fds[-1])
        fds.append(os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fds[-1]))
    with open(os.open("f", os.O_CREAT | os.O_WRONLY, dir_fd=fds[-1]), "wb") as f:
        f.write(b"bottom")
    for fd in fds[1:]:
        os.close(fd)
    yield depth
    # shutil.rmtree would recurse; take the chain down from the bottom instead
    chain = [fds[0]]
    for _ in range(depth):
        chain.append(os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=chain[-1]))
    os.unlink("f", dir_fd=chain[-1])
    while len(chain) > 1:
        os.close(chain.pop())
        os.rmdir("d", dir_fd=chain[-1])
    os.close(chain[0])


def test_usage_of_a_very_deep_tree(storage: LocalStorage, deep: int) -> None:
    assert result(storage.usage()) == (1005 + 6, 3)


def test_usage_reopens_from_the_home_if_a_directory_moved(
    storage: LocalStorage, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (home / "docs" / "other").mkdir()
    (home / "docs" / "other" / "c").write_bytes(b"abc")

    def moved(fd: int, expected: tuple[int, int]) -> None:
        return None

    monkeypatch.setattr(local, "_climb", moved)
    assert result(storage.usage()) == (1008, 3)


# -- the jail ----------------------------------------------------------------------


@pytest.fixture
def links(home: Path, tmp_path: Path) -> Path:
    """Links an admin might have left: to "/", into bob's home, to a dir of alice's own."""
    os.symlink("/", home / "root")
    os.symlink(tmp_path / "bob", home / "bob")
    os.symlink(tmp_path / "bob" / "secret.txt", home / "secret.txt")
    os.symlink("docs", home / "link")
    return home


def test_links_are_listed_as_links(storage: LocalStorage, links: Path) -> None:
    assert names(storage) == ["a.txt", "bob", "docs", "link", "root", "secret.txt"]
    for n in ["/root", "/bob", "/link", "/secret.txt"]:
        entry = result(storage.stat(n))
        assert (entry.type, entry.size) == ("symlink", 0)
        assert not result(storage.is_dir(n))


@pytest.mark.parametrize("vpath", ["/root", "/bob", "/link", "/docs/../root"])
def test_links_cannot_be_listed_or_entered(storage: LocalStorage, links: Path, vpath: str) -> None:
    code = ErrorCode.BAD_PATH if ".." in vpath else ErrorCode.OUTSIDE_HOME
    error(storage.list(vpath, None, 10), code)
    error(storage.open_dir_fd(vpath), code)


@pytest.mark.parametrize("vpath", [
    "/root/etc/passwd", "/bob/secret.txt", "/secret.txt", "/link/deep/b.bin",
])
def test_nothing_is_read_through_a_link(storage: LocalStorage, links: Path, vpath: str) -> None:
    e = error(storage.open_read(vpath), ErrorCode.OUTSIDE_HOME)
    assert "symbolic link" in e.message
    assert str(links) not in e.message


@pytest.mark.parametrize("vpath", ["/root/etc", "/bob/secret.txt", "/link/deep"])
def test_a_link_in_the_middle_of_a_path_is_refused(
    storage: LocalStorage, links: Path, vpath: str
) -> None:
    e = error(storage.stat(vpath), ErrorCode.OUTSIDE_HOME)
    assert e.message.startswith(f"'/{vpath.split('/')[1]}' is a symbolic link")
    error(storage.is_dir(vpath), ErrorCode.OUTSIDE_HOME)
    error(storage.remove(vpath), ErrorCode.OUTSIDE_HOME)
    error(storage.rmdir(vpath), ErrorCode.OUTSIDE_HOME)


def test_mkdir_through_a_link_is_refused(
    storage: LocalStorage, links: Path, tmp_path: Path
) -> None:
    error(storage.mkdir("/bob/x", False), ErrorCode.OUTSIDE_HOME)
    error(storage.mkdir("/bob/x/y", True), ErrorCode.OUTSIDE_HOME)
    error(storage.mkdir("/bob", True), ErrorCode.ALREADY_EXISTS)
    assert sorted(os.listdir(tmp_path / "bob")) == ["secret.txt"]


def test_rename_through_a_link_is_refused(
    storage: LocalStorage, links: Path, tmp_path: Path
) -> None:
    error(storage.rename("/a.txt", "/bob/a.txt"), ErrorCode.OUTSIDE_HOME)
    error(storage.rename("/a.txt", "/bob/x/y"), ErrorCode.OUTSIDE_HOME)
    error(storage.rename("/bob/secret.txt", "/mine.txt"), ErrorCode.OUTSIDE_HOME)
    error(storage.rename("/a.txt", "/root/tmp"), ErrorCode.OUTSIDE_HOME)
    assert (links / "a.txt").exists()
    assert sorted(os.listdir(tmp_path / "bob")) == ["secret.txt"]


def test_rename_onto_a_link_replaces_the_link_only(
    storage: LocalStorage, links: Path, tmp_path: Path
) -> None:
    result(storage.rename("/a.txt", "/bob"))  # "/bob" is a link, not a directory
    assert (links / "bob").read_bytes() == b"hello"
    assert (tmp_path / "bob" / "secret.txt").read_text() == "bob's secret"


def test_a_link_can_be_moved_and_removed_never_its_target(
    storage: LocalStorage, links: Path, tmp_path: Path
) -> None:
    result(storage.rename("/secret.txt", "/docs"))
    assert (links / "docs" / "secret.txt").is_symlink()
    result(storage.remove("/docs/secret.txt"))
    result(storage.remove("/bob"))
    result(storage.remove("/root"))
    error(storage.rmdir("/link"), ErrorCode.NOT_A_DIRECTORY)
    result(storage.remove("/link"))
    assert names(storage) == ["a.txt", "docs"]
    assert (tmp_path / "bob" / "secret.txt").read_text() == "bob's secret"
    assert (links / "docs" / "deep" / "b.bin").exists()


def test_usage_never_follows_links(storage: LocalStorage, links: Path) -> None:
    assert result(storage.usage()) == (1005, 6)


def test_a_home_that_is_a_link(home: Path, tmp_path: Path) -> None:
    os.symlink(home, tmp_path / "alias")
    storage = LocalStorage(tmp_path / "alias", InlineThreads())
    assert storage.home == home.resolve()
    assert names(storage) == ["a.txt", "docs"]


def test_a_missing_home(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "gone", InlineThreads())
    e = error(storage.list("/", None, 10), ErrorCode.NOT_FOUND)
    assert str(tmp_path) not in e.message


@pytest.mark.parametrize("vpath", [
    "/../bob", "/docs/../../bob", "..", "docs", "/a\x00b", "/a\nb", "/" + "x" * 256, "",
])
def test_non_canonical_or_bad_paths_are_refused(storage: LocalStorage, vpath: str) -> None:
    error(storage.stat(vpath), ErrorCode.BAD_PATH)
    error(storage.mkdir(vpath, True), ErrorCode.BAD_PATH)
    error(storage.rename("/a.txt", vpath), ErrorCode.BAD_PATH)


# -- errno mapping ----------------------------------------------------------------


@pytest.mark.parametrize(("number", "code"), [
    (errno.EACCES, ErrorCode.PERMISSION_DENIED),
    (errno.EPERM, ErrorCode.PERMISSION_DENIED),
    (errno.ENOSPC, ErrorCode.STORAGE_FULL),
    (errno.EDQUOT, ErrorCode.STORAGE_FULL),
    (errno.ENAMETOOLONG, ErrorCode.BAD_PATH),
    (errno.ELOOP, ErrorCode.OUTSIDE_HOME),
])
def test_errno_mapping(number: int, code: str) -> None:
    with pytest.raises(CommandError) as info, local._mapped("/v/p"):
        raise OSError(number, os.strerror(number), "/real/path")
    assert info.value.code == code
    assert "'/v/p'" in info.value.message and "/real" not in info.value.message


def test_other_errors_propagate() -> None:
    with pytest.raises(OSError) as info, local._mapped("/v"):
        raise OSError(errno.EIO, "I/O error")
    assert not isinstance(info.value, CommandError)


# -- staged uploads held by one upload at a time ---------------------------------------


def test_an_upload_being_written_is_never_handed_to_another(storage: LocalStorage) -> None:
    """Even when the caller's list of uploads under way is stale (another session, or
    one just starting): the staged file is locked while an upload holds it."""
    first, _ = result(storage.start_upload("/new.bin", 10, False, frozenset()))
    first.append([b"01234"])
    second, _ = result(storage.start_upload("/new.bin", 10, False, frozenset()))
    assert (second.stem != first.stem, second.offset) == (True, 0)
    restarted, freed = result(storage.start_upload("/new.bin", 10, True, frozenset()))
    assert restarted.stem not in (first.stem, second.stem) and freed == 0  # both kept
    for upload in (second, restarted):
        upload.discard()
    first.close()
    resumed, _ = result(storage.start_upload("/new.bin", 10, False, frozenset()))
    assert (resumed.stem, resumed.offset) == (first.stem, 5)  # free again: resumed
    resumed.discard()


def test_a_staged_file_not_of_the_declared_size_is_never_committed(
        storage: LocalStorage, home: Path) -> None:
    upload, _ = result(storage.start_upload("/new.bin", 4, False, frozenset()))
    upload.append([b"abc", b"de"])  # one byte too many, however it came
    with pytest.raises(CommandError) as e:
        upload.commit("sha256", "0" * 64)
    assert e.value.code == "checksum_mismatch"
    assert not (home / "new.bin").exists()
    upload.discard()


def test_a_note_without_its_staged_data_is_cleaned_up(storage: LocalStorage,
                                                      home: Path) -> None:
    first, _ = result(storage.start_upload("/new.bin", 10, False, frozenset()))
    staging = home / ".ftpkit" / "staging"
    first.discard()
    assert list(staging.iterdir()) == []  # the path's folder went with its last upload
    note = staging / f"{first.stem}.json"
    note.parent.mkdir()
    note.write_text('{"path": "/new.bin", "size": 10}')
    again, _ = result(storage.start_upload("/new.bin", 10, False, frozenset()))
    assert sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file()) \
        == [f"{again.stem}.json", f"{again.stem}.part"]
    again.discard()
    assert list(staging.iterdir()) == []


def test_abandoned_uploads_are_swept_at_most_once_a_minute(storage: LocalStorage) -> None:
    import time

    from ftpkit.storage.local import SWEEP_EVERY

    def staged() -> None:
        upload, _ = result(storage.start_upload("/new.bin", 10, False, frozenset()))
        upload.append([b"01234"])
        upload.close()  # abandoned: kept for a resume until it goes stale

    now = time.time()
    staged()
    assert result(storage.sweep_uploads(now - 30, ())) == 0  # not stale yet
    # Stale by now, but the last sweep's cutoff was less than a minute before: left.
    assert result(storage.sweep_uploads(now + 1, ())) == 0
    assert result(storage.sweep_uploads(now - 30 + SWEEP_EVERY, ())) == 5
    assert result(storage.sweep_uploads(now + 3 * SWEEP_EVERY, ())) == 0  # nothing left


def staging_files(home: Path) -> list[str]:
    staging = home / ".ftpkit" / "staging"
    return sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file())


def test_each_path_stages_in_its_own_folder(storage: LocalStorage, home: Path) -> None:
    # many other uploads under way in the home: a put looks only at its own path's folder
    others = [result(storage.start_upload(f"/other-{i}.bin", 10, False, frozenset()))[0]
              for i in range(20)]
    first, _ = result(storage.start_upload("/new.bin", 10, False, frozenset()))
    first.append([b"01234"])
    first.close()
    again, _ = result(storage.start_upload("/new.bin", 10, False,
                                           frozenset(u.id for u in others)))
    assert again.id == first.id and again.offset == 5
    folder = again.id.partition("/")[0]
    assert folder not in {u.id.partition("/")[0] for u in others}
    assert len({u.id.partition("/")[0] for u in others}) == 20
    again.discard()
    for u in others:
        u.discard()
    assert list((home / ".ftpkit" / "staging").iterdir()) == []


def test_two_uploads_of_one_path_share_its_folder_until_both_are_gone(
        storage: LocalStorage, home: Path) -> None:
    one, _ = result(storage.start_upload("/new.bin", 3, False, frozenset()))
    two, _ = result(storage.start_upload("/new.bin", 3, False, frozenset({one.id})))
    assert one.id != two.id and one.id.partition("/")[0] == two.id.partition("/")[0]
    one.append([b"abc"])
    one.commit("sha256", "0" * 64)
    assert staging_files(home) == [f"{two.id}.json", f"{two.id}.part"]  # the folder stays
    two.discard()
    assert list((home / ".ftpkit" / "staging").iterdir()) == []


def test_a_staging_file_without_its_note_is_cleaned_up(storage: LocalStorage,
                                                      home: Path) -> None:
    first, _ = result(storage.start_upload("/new.bin", 10, False, frozenset()))
    first.append([b"0123"])
    first.close()
    (home / ".ftpkit" / "staging" / f"{first.id}.json").unlink()  # a crash before the note
    assert result(storage.usage())[0] >= 4  # its bytes still count until it goes
    again, freed = result(storage.start_upload("/new.bin", 10, False, frozenset()))
    assert again.offset == 0 and freed == 4
    assert staging_files(home) == [f"{again.id}.json", f"{again.id}.part"]
    again.discard()


def test_uploads_staged_flat_by_older_releases_count_and_are_swept(
        storage: LocalStorage, home: Path) -> None:
    import json
    import time

    staging = home / ".ftpkit" / "staging"
    staging.mkdir(parents=True)
    (staging / "0123abcd0123abcd0123abcd-00ff00ff.part").write_bytes(b"x" * 7)
    (staging / "0123abcd0123abcd0123abcd-00ff00ff.json").write_text(
        json.dumps({"path": "/old.bin", "size": 10}))
    (staging / "deadbeefdeadbeefdeadbeef").mkdir()  # a folder a crash left empty
    used = result(storage.usage())[0]
    assert used == 5 + 1000 + 7
    assert result(storage.sweep_uploads(time.time() + 1, ())) == 7
    assert list(staging.iterdir()) == []


def test_a_folder_that_vanishes_while_an_upload_starts_is_made_again(
        storage: LocalStorage, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ftpkit.storage import staging

    real_mkdir, calls = os.mkdir, []

    def mkdir_then_lose_it(name: Any, mode: int = 0o777, *, dir_fd: int | None = None) -> None:
        real_mkdir(name, mode, dir_fd=dir_fd)
        if len(name) == 24 and not calls:  # a key's folder: another upload's prune wins
            calls.append(name)
            os.rmdir(name, dir_fd=dir_fd)

    monkeypatch.setattr(staging.os, "mkdir", mkdir_then_lose_it)
    upload, _ = result(storage.start_upload("/new.bin", 10, False, frozenset()))
    assert calls and upload.id.startswith(calls[0] + "/")
    upload.discard()


def test_an_upload_knows_the_size_of_the_file_it_will_replace(storage: LocalStorage,
                                                               home: Path) -> None:
    (home / "link").symlink_to("a.txt")
    for vpath, size in (("/a.txt", 5), ("/new.bin", 0), ("/link", 0),
                        ("/docs/deep/b.bin", 1000)):
        upload, _ = result(storage.start_upload(vpath, 10, False, frozenset()))
        assert upload.replacing == size, vpath
        upload.discard()
    error(storage.start_upload("/docs", 10, False, frozenset()), "is_a_directory")
