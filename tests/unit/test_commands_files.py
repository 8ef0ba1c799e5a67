"""The file commands (pwd, cd, ls, stat, mkdir, rmdir, rm, mv, quota) through a session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ftpkit.commands.ls import PAGE_BYTES
from tests.serverkit import Wire, make_users


@pytest.fixture
def wire(tmp_path: Path) -> Wire:
    w = Wire(tmp_path)
    w.messages()
    w.login()
    return w


def home(tmp_path: Path, user: str = "alice") -> Path:
    return tmp_path / "homes" / user


def test_pwd_and_cd(wire: Wire) -> None:
    assert wire.ok("pwd") == {"path": "/"}
    assert wire.ok("mkdir", path="a/b", parents=True) == {"path": "/a/b"}
    assert wire.ok("cd", path="a/b") == {"path": "/a/b"}
    assert wire.ok("cd", path="../../../../..") == {"path": "/"}
    assert wire.ok("cd", path="/a") == {"path": "/a"}
    assert wire.ok("pwd") == {"path": "/a"}
    assert wire.error("cd", path="nope") == "not_found"
    assert wire.ok("cd") == {"path": "/"}


def test_cd_into_a_file_or_a_link_is_refused(wire: Wire, tmp_path: Path) -> None:
    (home(tmp_path) / "f").write_bytes(b"x")
    os.symlink("/", home(tmp_path) / "root")
    os.mkdir(home(tmp_path) / "d")
    os.symlink("d", home(tmp_path) / "inner")
    assert wire.error("cd", path="f") == "not_a_directory"
    assert wire.error("cd", path="root") == "outside_home"
    assert wire.error("cd", path="inner") == "outside_home"  # no link is followed
    assert wire.ok("pwd") == {"path": "/"}


def test_ls_lists_name_type_size_mtime(wire: Wire, tmp_path: Path) -> None:
    (home(tmp_path) / "file.txt").write_bytes(b"12345")
    (home(tmp_path) / "dir").mkdir()
    os.symlink("/etc/passwd", home(tmp_path) / "link")
    result = wire.ok("ls")
    assert result["path"] == "/" and result["more"] is False
    summary = [(e["name"], e["type"], e["size"]) for e in result["entries"]]
    assert summary == [("dir", "dir", 0), ("file.txt", "file", 5), ("link", "symlink", 0)]
    assert all(isinstance(e["mtime"], float) for e in result["entries"])
    assert wire.ok("ls", path="file.txt")["entries"][0]["name"] == "file.txt"
    assert wire.error("ls", path="link/x") == "outside_home"


def test_ls_pages_through_a_directory(wire: Wire, tmp_path: Path) -> None:
    for i in range(25):
        (home(tmp_path) / f"f{i:02}").touch()
    names, after = [], None
    while True:
        args = {"limit": 10} | ({"after": after} if after else {})
        page = wire.ok("ls", **args)
        names += [e["name"] for e in page["entries"]]
        if not page["more"]:
            break
        after = page["entries"][-1]["name"]
    assert names == [f"f{i:02}" for i in range(25)]
    assert wire.error("ls", limit=0) == "bad_request"
    assert wire.error("ls", limit=10_001) == "bad_request"


def test_ls_page_stays_under_the_frame_limit(wire: Wire, tmp_path: Path) -> None:
    for i in range(4000):
        (home(tmp_path) / (f"{i:04}" + "n" * 240)).touch()
    page = wire.ok("ls", limit=10_000)
    assert page["more"] is True
    assert 0 < len(page["entries"]) < 4000
    assert len(wire.transport.value()) < PAGE_BYTES + 64 * 1024


def test_stat(wire: Wire, tmp_path: Path) -> None:
    (home(tmp_path) / "f").write_bytes(b"abc")
    result = wire.ok("stat", path="/f")
    assert (result["path"], result["name"], result["type"], result["size"]) == (
        "/f", "f", "file", 3)
    assert wire.ok("stat", path="/")["type"] == "dir"
    assert wire.error("stat", path="missing") == "not_found"


def test_mkdir_rmdir(wire: Wire, tmp_path: Path) -> None:
    assert wire.error("mkdir", path="x/y") == "not_found"
    wire.ok("mkdir", path="x/y", parents=True)
    wire.ok("mkdir", path="x/y", parents=True)  # -p: existing is fine
    assert wire.error("mkdir", path="x") == "already_exists"
    assert wire.error("rmdir", path="x") == "not_empty"
    wire.ok("rmdir", path="x/y")
    wire.ok("rmdir", path="x")
    assert not (home(tmp_path) / "x").exists()
    assert wire.error("rmdir", path="/") == "permission_denied"


def test_rm_credits_quota(wire: Wire, tmp_path: Path) -> None:
    (home(tmp_path) / "f").write_bytes(b"x" * 100)
    wire.ok("quota")  # nothing charged yet: usage was scanned at login
    wire.request("logout")
    wire.messages()
    wire.login()
    assert wire.ok("quota")["used"] == 100
    assert wire.ok("rm", path="f") == {"path": "/f", "size": 100}
    assert wire.ok("quota") == {"used": 0, "limit": None, "free": None, "files": 0}
    (home(tmp_path) / "d").mkdir()
    assert wire.error("rm", path="d") == "is_a_directory"


def test_rm_of_a_link_keeps_its_target(wire: Wire, tmp_path: Path) -> None:
    target = tmp_path / "precious"
    target.write_text("keep me")
    os.symlink(target, home(tmp_path) / "link")
    wire.ok("rm", path="link")
    assert target.read_text() == "keep me"


def test_mv_renames_moves_and_replaces(wire: Wire, tmp_path: Path) -> None:
    (home(tmp_path) / "a").write_bytes(b"a" * 10)
    (home(tmp_path) / "b").write_bytes(b"b" * 30)
    (home(tmp_path) / "dir").mkdir()
    wire.request("logout")
    wire.messages()
    wire.login()
    assert wire.ok("quota")["used"] == 40
    assert wire.ok("mv", src="a", dst="dir") == {"src": "/a", "dst": "/dir/a"}
    assert wire.ok("mv", src="dir/a", dst="/b") == {"src": "/dir/a", "dst": "/b"}
    assert (home(tmp_path) / "b").read_bytes() == b"a" * 10
    assert wire.ok("quota") == {"used": 10, "limit": None, "free": None, "files": 1}
    assert wire.error("mv", src="dir", dst="dir/inside") == "bad_path"
    assert wire.error("mv", src="missing", dst="x") == "not_found"


def test_escape_attempts_fail_cleanly(wire: Wire, tmp_path: Path) -> None:
    bob = home(tmp_path, "bob")
    bob.mkdir(parents=True)
    (bob / "secret").write_text("bob's")
    os.symlink(bob, home(tmp_path) / "tobob")
    os.symlink("/", home(tmp_path) / "root")
    assert wire.ok("ls", path="../../..")["path"] == "/"
    # listing a link shows the link itself, never what it points at
    assert [(e["name"], e["type"]) for e in wire.ok("ls", path="tobob")["entries"]] == [
        ("tobob", "symlink")]
    assert wire.error("stat", path="tobob/secret") == "outside_home"
    assert wire.error("ls", path="root/etc") == "outside_home"
    assert wire.error("mkdir", path="root/tmp/x") == "outside_home"
    assert wire.error("mkdir", path="tobob/new", parents=True) == "outside_home"
    (home(tmp_path) / "mine").write_text("x")
    assert wire.error("mv", src="mine", dst="tobob/mine") == "outside_home"
    assert wire.error("mv", src="tobob/secret", dst="stolen") == "outside_home"
    assert wire.error("rm", path="tobob/secret") == "outside_home"
    assert (bob / "secret").read_text() == "bob's"
    assert not (bob / "mine").exists() and not (bob / "new").exists()
    for bad in ("a\x00b", "new\nline", "x" * 256, "/" + "d/" * 2100):
        assert wire.error("mkdir", path=bad) == "bad_path"
    assert wire.ok("mkdir", path="日本語 ✓") == {"path": "/日本語 ✓"}


def test_two_users_never_see_each_other(wire: Wire, tmp_path: Path) -> None:
    wire.ok("mkdir", path="alice-only")
    bob = wire.another(tmp_path)
    bob.messages()
    bob.login("bob", "bob-pw")
    assert bob.ok("ls")["entries"] == []
    assert bob.error("cd", path="/alice-only") == "not_found"
    assert bob.ok("mkdir", path="bobs") == {"path": "/bobs"}
    assert [e["name"] for e in wire.ok("ls")["entries"]] == ["alice-only"]


def test_sessions_of_one_user_share_one_quota_account(wire: Wire, tmp_path: Path) -> None:
    second = wire.another(tmp_path)
    second.messages()
    second.login()
    assert wire.session.avatar is not None and second.session.avatar is not None
    assert wire.session.avatar.quota is second.session.avatar.quota
    assert wire.session.avatar.quota.sessions == 2


def test_quota_limit_change_and_rescan_apply_while_connected(tmp_path: Path) -> None:
    users = make_users(tmp_path, alice="alice-pw")
    w = Wire(tmp_path, users=users)
    w.messages()
    w.login()
    assert w.ok("quota") == {"used": 0, "limit": None, "free": None, "files": 0}
    users.set_quota("alice", 1000)
    assert w.ok("quota") == {"used": 0, "limit": 1000, "free": 1000, "files": 0}
    (home(tmp_path) / "outside").write_bytes(b"x" * 300)  # made behind ftpkit's back
    assert w.ok("quota")["used"] == 0
    users.request_rescan("alice")
    assert w.ok("quota") == {"used": 300, "limit": 1000, "free": 700, "files": 1}
    users.set_enabled("alice", False)
    assert w.error("quota") == "permission_denied"
