"""Navigation, organisation, quota and the shell, through the real CLI and server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.conftest import Server, admin

pytestmark = pytest.mark.integration


def ok(server: Server, *args: str, **kw: str) -> str:
    result = server.cli(*args, **kw)
    assert result.returncode == 0, result.stderr
    return result.stdout


def fails(server: Server, *args: str, code: str) -> None:
    result = server.cli(*args)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr.startswith(f"ftpkit: {code}: "), result.stderr
    assert "Traceback" not in result.stderr


def test_every_command_from_the_cli(server: Server) -> None:
    home = server.root / "alice"
    assert ok(server, "pwd") == "/\n"
    ok(server, "mkdir", "-p", "docs/old")
    (home / "docs" / "a.txt").write_bytes(b"hello")
    assert ok(server, "ls") == "docs/\n"
    assert ok(server, "ls", "docs") == "a.txt\nold/\n"
    long = ok(server, "ls", "-l", "docs").splitlines()
    assert long[0].startswith("- ") and long[0].split()[1] == "5" and long[0].endswith("a.txt")
    assert long[1].startswith("d ")
    assert "size:  5" in ok(server, "stat", "docs/a.txt")
    assert ok(server, "cd", "docs/old") == "/docs/old\n"
    ok(server, "mv", "docs/a.txt", "docs/old")
    assert (home / "docs" / "old" / "a.txt").exists()
    fails(server, "rmdir", "docs", code="not_empty")
    ok(server, "rm", "docs/old/a.txt")
    ok(server, "rmdir", "docs/old", "docs")
    assert ok(server, "ls") == ""
    assert ok(server, "quota") == "used 0 B of 10.0 MiB, 10.0 MiB free; 0 files\n"


def test_escape_attempts_get_clear_errors(server: Server, tmp_path: Path) -> None:
    home = server.root / "alice"
    home.mkdir(parents=True, exist_ok=True)
    (server.root / "bob").mkdir()
    (server.root / "bob" / "secret").write_text("bob's")
    os.symlink("/", home / "root")
    os.symlink(server.root / "bob", home / "bob")
    assert ok(server, "ls", "../../../..") == "bob\nroot\n"  # symlinks listed, not followed
    fails(server, "ls", "root/etc", code="outside_home")
    fails(server, "cd", "bob", code="outside_home")
    fails(server, "stat", "bob/secret", code="outside_home")
    fails(server, "mkdir", "root/tmp/x", code="outside_home")
    fails(server, "mv", "bob/secret", "mine", code="outside_home")
    fails(server, "mkdir", "bad\nname", code="bad_path")
    fails(server, "mkdir", "x" * 300, code="bad_path")
    ok(server, "mkdir", "Ünïcødé ✓")
    assert "Ünïcødé ✓/" in ok(server, "ls")
    ok(server, "rm", "root")
    assert Path("/etc/passwd").exists()


def test_shell_reads_piped_commands(server: Server) -> None:
    result = server.cli("shell", stdin="mkdir a\ncd a\npwd\n# a comment\n\nls /\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "/a\na/\n"


def test_shell_stops_at_the_first_error(server: Server) -> None:
    result = server.cli("shell", stdin="mkdir a\ncd nowhere\nmkdir b\n")
    assert result.returncode == 1
    assert result.stderr.startswith("ftpkit: not_found: ")
    assert not (server.root / "alice" / "b").exists()
    typo = server.cli("shell", stdin="lss\nmkdir c\n")
    assert typo.returncode == 2 and "unknown command 'lss'" in typo.stderr


def test_shell_calls_server_commands_by_name(server: Server) -> None:
    result = server.cli("shell", stdin="quota\ncall pwd\n")
    assert result.returncode == 0, result.stderr
    assert '"path": "/"' in result.stdout


def test_quota_survives_a_restart_and_outside_changes(server: Server) -> None:
    home = server.root / "alice"
    ok(server, "mkdir", "d")
    (home / "d" / "f").write_bytes(b"x" * 2048)
    assert ok(server, "quota").startswith("used 2.0 KiB of 10.0 MiB")
    ok(server, "mv", "d/f", "g")
    server.stop()
    (home / "h").write_bytes(b"y" * 1024)  # changed while the server was down
    server.start()
    assert ok(server, "quota") == "used 3.0 KiB of 10.0 MiB, 10.0 MiB free; 2 files\n"
    assert admin(server.users, "set-quota", "alice", "1K").returncode == 0
    assert ok(server, "quota") == "used 3.0 KiB of 1.0 KiB, 0 B free; 2 files\n"
