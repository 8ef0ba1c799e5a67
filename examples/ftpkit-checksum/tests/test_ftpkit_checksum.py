"""The checksum and du commands, through a real ftpkit session on an in-memory transport."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import pytest
from twisted.internet.defer import Deferred

from ftpkit.commands import ICommand
from ftpkit.commands.registry import CommandRegistry
from ftpkit.plugins import builtins
from ftpkit.server.policy import SessionPolicy
from ftpkit.storage import checksums
from ftpkit.threads import InlineThreads
from tests.serverkit import Wire

T = TypeVar("T")
PLUGIN = Path(__file__).resolve().parents[1] / "ftpkit" / "plugins" / "ftpkit_checksum_commands.py"


def load_plugin() -> ModuleType:
    """The plugin module beside these tests (whether or not the distribution is installed)."""
    spec = importlib.util.spec_from_file_location("ftpkit_checksum_commands", PLUGIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


plugin = load_plugin()


def registry() -> CommandRegistry:
    """ftpkit's built-in commands, plus this distribution's."""
    return CommandRegistry.of([*(c for c in vars(builtins).values() if ICommand.providedBy(c)),
                               plugin.checksum, plugin.du])


class RecordingThreads:
    """Inline, but remembers what was handed to the thread pool."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    def run(self, f: Callable[..., T], *args: Any, **kwargs: Any) -> Deferred[T]:
        self.ran.append(getattr(f, "__name__", repr(f)))
        return InlineThreads().run(f, *args, **kwargs)


class ListingSpy:
    """Stands in for a user's storage: list() goes through C{before}, the rest as is."""

    def __init__(self, storage: Any, before: Callable[[str, str | None, int], None]) -> None:
        self._storage = storage
        self._before = before

    def list(self, vpath: str, after: str | None, limit: int) -> Any:
        self._before(vpath, after, limit)
        return self._storage.list(vpath, after, limit)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._storage, name)


def spy_on_listings(wire: Wire, monkeypatch: pytest.MonkeyPatch,
                    before: Callable[[str, str | None, int], None]) -> None:
    avatar = wire.session.avatar
    assert avatar is not None
    monkeypatch.setattr(avatar, "storage", ListingSpy(avatar.storage, before))


@pytest.fixture
def wire(tmp_path: Path) -> Wire:
    w = Wire(tmp_path, registry=registry())
    w.messages()
    w.login()
    return w


def home(tmp_path: Path) -> Path:
    return tmp_path / "homes" / "alice"


def test_the_plugin_module_provides_exactly_its_two_commands() -> None:
    from twisted.plugin import IPlugin

    provided = {name: value for name, value in vars(plugin).items()
                if IPlugin.providedBy(value) and ICommand.providedBy(value)}
    assert sorted(provided) == ["checksum", "du"]
    assert {c.name for c in provided.values()} == {"checksum", "du"}


def test_the_hello_and_the_commands_list_show_them(tmp_path: Path) -> None:
    w = Wire(tmp_path, registry=registry())
    (hello,) = w.messages()
    by_name = {c["name"]: c for c in hello["commands"]}
    assert [a["name"] for a in by_name["checksum"]["args"]] == ["path", "algorithm"]
    assert [(a["name"], a["required"]) for a in by_name["du"]["args"]] == [("path", False)]
    w.login()
    listed = {c["name"] for c in w.ok("commands")["commands"]}
    assert {"checksum", "du", "ls", "login"} <= listed


def test_both_need_a_login(tmp_path: Path) -> None:
    w = Wire(tmp_path, registry=registry())
    w.messages()
    assert w.error("checksum", path="f") == "auth_required"
    assert w.error("du") == "auth_required"


def test_checksum_of_a_file(wire: Wire, tmp_path: Path) -> None:
    data = os.urandom(2 * plugin.BLOCK + 12345)  # several blocks, the last one short
    (home(tmp_path) / "d").mkdir()
    (home(tmp_path) / "d" / "big.bin").write_bytes(data)
    wire.ok("cd", path="d")
    assert wire.ok("checksum", path="big.bin") == {
        "path": "/d/big.bin", "algorithm": "sha256",
        "checksum": hashlib.sha256(data).hexdigest(), "size": len(data)}


@pytest.mark.parametrize("algorithm", plugin.ALGORITHMS)
def test_every_algorithm_agrees_with_hashlib(wire: Wire, tmp_path: Path, algorithm: str) -> None:
    (home(tmp_path) / "f").write_bytes(b"hello\n")
    result = wire.ok("checksum", path="/f", algorithm=algorithm)
    assert result["checksum"] == hashlib.new(algorithm, b"hello\n").hexdigest()
    assert result["algorithm"] == algorithm and result["size"] == 6


def test_an_empty_file(wire: Wire, tmp_path: Path) -> None:
    (home(tmp_path) / "empty").write_bytes(b"")
    assert wire.ok("checksum", path="empty")["checksum"] == hashlib.sha256(b"").hexdigest()


def test_arguments_are_checked(wire: Wire, tmp_path: Path) -> None:
    (home(tmp_path) / "f").write_bytes(b"x")
    reply = wire.ask("checksum", path="f", algorithm="crc32")
    assert reply["code"] == "bad_request"
    assert "'algorithm'" in reply["message"] and "sha256" in reply["message"]
    assert wire.error("checksum") == "bad_request"  # path is required
    assert wire.error("checksum", path=7) == "bad_request"
    assert wire.error("du", path="/", depth=1) == "bad_request"


def test_checksum_refuses_what_is_not_a_regular_file(wire: Wire, tmp_path: Path) -> None:
    (home(tmp_path) / "dir").mkdir()
    (home(tmp_path) / "real").write_bytes(b"secret")
    os.symlink("real", home(tmp_path) / "link")
    os.symlink("/etc/passwd", home(tmp_path) / "passwd")
    assert wire.error("checksum", path="dir") == "is_a_directory"
    assert wire.error("checksum", path="missing") == "not_found"
    assert wire.error("checksum", path="link") == "outside_home"  # never followed
    assert wire.error("checksum", path="passwd") == "outside_home"
    assert wire.error("checksum", path="/.ftpkit/sums") == "bad_path"


def test_the_hash_is_computed_through_the_thread_pool(wire: Wire, tmp_path: Path) -> None:
    (home(tmp_path) / "f").write_bytes(b"data")
    threads = RecordingThreads()
    wire.factory.threads = threads  # what commands get as context.threads
    wire.ok("checksum", path="f")
    assert "_digest" in threads.ran and "close" in threads.ran


def sums_fd(tmp_path: Path) -> int:
    return os.open(home(tmp_path) / ".ftpkit" / "sums", os.O_RDONLY | os.O_DIRECTORY)


def test_a_recorded_digest_is_used_and_the_transfer_one_is_kept(tmp_path: Path) -> None:
    # a server whose transfers use sha256 (the plugin's default too), so it records it
    wire = Wire(tmp_path, registry=registry(), policy=SessionPolicy(checksum="sha256"))
    wire.messages()
    wire.login()
    path = home(tmp_path) / "f"
    path.write_bytes(b"contents")
    real = hashlib.sha256(b"contents").hexdigest()
    assert wire.ok("checksum", path="f")["checksum"] == real  # hashed, and recorded
    fd = sums_fd(tmp_path)
    try:
        assert checksums.read_record(fd, os.stat(path), "sha256") == real
        # Another algorithm is computed, but not recorded over the transfers' one.
        assert wire.ok("checksum", path="f", algorithm="md5")["checksum"] == \
            hashlib.md5(b"contents").hexdigest()
        assert checksums.read_record(fd, os.stat(path), "sha256") == real
        # A recorded digest is trusted while the file is unchanged (as get trusts it).
        checksums.write_record(fd, os.stat(path), "sha256", "ab" * 32)
        assert wire.ok("checksum", path="f")["checksum"] == "ab" * 32
    finally:
        os.close(fd)
    path.write_bytes(b"changed!")  # same size, new mtime: the record no longer applies
    os.utime(path, ns=(1, 1))
    assert wire.ok("checksum", path="f")["checksum"] == hashlib.sha256(b"changed!").hexdigest()


def make_tree(root: Path) -> None:
    (root / "a" / "b" / "c").mkdir(parents=True)
    (root / "a" / "one").write_bytes(b"1")
    (root / "a" / "b" / "two").write_bytes(b"22")
    (root / "a" / "b" / "c" / "three").write_bytes(b"333")
    (root / "a" / "empty").mkdir()
    (root / "top").write_bytes(b"x" * 10)


def test_du_totals_a_tree(wire: Wire, tmp_path: Path) -> None:
    make_tree(home(tmp_path))
    assert wire.ok("du") == {"path": "/", "bytes": 16, "files": 4, "dirs": 4}
    assert wire.ok("du", path="a") == {"path": "/a", "bytes": 6, "files": 3, "dirs": 3}
    wire.ok("cd", path="a/b")
    assert wire.ok("du") == {"path": "/a/b", "bytes": 5, "files": 2, "dirs": 1}
    assert wire.ok("du", path="c/three") == {"path": "/a/b/c/three", "bytes": 3, "files": 1,
                                             "dirs": 0}
    assert wire.ok("du", path="/a/empty") == {"path": "/a/empty", "bytes": 0, "files": 0,
                                              "dirs": 0}


def test_du_never_follows_links_nor_counts_ftpkits_own_files(wire: Wire,
                                                               tmp_path: Path) -> None:
    make_tree(home(tmp_path))
    wire.ok("checksum", path="top")  # leaves a record in /.ftpkit
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "huge").write_bytes(b"y" * 1000)
    os.symlink(outside, home(tmp_path) / "a" / "linked-dir")
    os.symlink("/etc/passwd", home(tmp_path) / "linked-file")
    # Each link is one entry of 0 bytes; nothing behind it is counted.
    assert wire.ok("du") == {"path": "/", "bytes": 16, "files": 6, "dirs": 4}
    assert wire.ok("du", path="a/linked-dir") == {"path": "/a/linked-dir", "bytes": 0,
                                                  "files": 1, "dirs": 0}
    assert wire.error("du", path="a/linked-dir/huge") == "outside_home"


def test_du_pages_through_big_directories(wire: Wire, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plugin, "PAGE", 3)
    for i in range(10):
        (home(tmp_path) / f"f{i:02}").write_bytes(b"z" * i)
    for i in range(4):
        (home(tmp_path) / f"d{i}").mkdir()
        (home(tmp_path) / f"d{i}" / "inner").write_bytes(b"q")
    calls: list[tuple[str, str | None, int]] = []
    spy_on_listings(wire, monkeypatch, lambda *call: calls.append(call))
    assert wire.ok("du") == {"path": "/", "bytes": 45 + 4, "files": 14, "dirs": 4}
    top = [c for c in calls if c[0] == "/"]
    assert [after for _, after, _ in top] == [None, "d2", "f01", "f04", "f07"]
    assert all(limit == 3 for _, _, limit in calls)


def test_du_skips_a_directory_removed_while_it_walks(wire: Wire, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    make_tree(home(tmp_path))

    def racing(vpath: str, after: str | None, limit: int) -> None:
        if vpath == "/a/b":
            shutil.rmtree(home(tmp_path) / "a" / "b")  # gone after /a was listed

    spy_on_listings(wire, monkeypatch, racing)
    # /a/b was seen (listing /a), what was in it was not; the walk goes on.
    assert wire.ok("du") == {"path": "/", "bytes": 11, "files": 2, "dirs": 3}


def test_du_errors(wire: Wire, tmp_path: Path) -> None:
    (home(tmp_path) / "f").write_bytes(b"x")
    assert wire.error("du", path="missing") == "not_found"
    assert wire.error("du", path="f/x") == "not_a_directory"
    assert wire.error("du", path="/.ftpkit") == "bad_path"
