"""ftpkit-admin, driven through run() with in-memory streams."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path

import pytest
from attrs import frozen

from ftpkit.auth.userdb import UserDB, UserRecord
from ftpkit.cli.admin import AdminIO, run
from tests.serverkit import HASHER, make_users


class TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@frozen
class Outcome:
    code: int
    out: str
    err: str
    prompts: list[str]


def admin(argv: Sequence[str], stdin: str = "", answers: Sequence[str] | None = None,
          env: dict[str, str] | None = None) -> Outcome:
    """Run ftpkit-admin; C{answers} makes stdin a terminal and answers its prompts."""
    prompts: list[str] = []
    replies = list(answers or [])

    def ask(prompt: str) -> str:
        assert answers is not None, "prompted although stdin is not a terminal"
        prompts.append(prompt)
        return replies.pop(0)

    out, err = io.StringIO(), io.StringIO()
    stdin_io = TTY() if answers is not None else io.StringIO(stdin)
    code = run(list(argv), AdminIO(stdin_io, out, err, ask=ask, hasher=HASHER), env=env or {})
    return Outcome(code, out.getvalue(), err.getvalue(), prompts)


@pytest.fixture
def db(tmp_path: Path) -> UserDB:
    return make_users(tmp_path, alice="alice-pw")


def on(db: UserDB, *argv: str, stdin: str = "", answers: Sequence[str] | None = None) -> Outcome:
    """ftpkit-admin --users DB ARGV..."""
    return admin(["--users", str(db.path), *argv], stdin=stdin, answers=answers)


def record(db: UserDB, name: str) -> UserRecord:
    found = db.get(name)
    assert found is not None, f"no user {name!r}"
    return found


def assert_failed(outcome: Outcome, message: str) -> None:
    assert outcome.code == 1
    assert outcome.out == ""
    assert outcome.err == f"ftpkit-admin: {message}\n"


# -- add ---------------------------------------------------------------------


def test_add_reads_the_password_from_stdin(db: UserDB) -> None:
    outcome = on(db, "add", "bob", stdin="bob's pw \nignored\n")
    assert (outcome.code, outcome.out, outcome.err) == (0, "added bob (quota unlimited)\n", "")
    bob = record(db, "bob")
    assert bob.password_hash.startswith("$argon2id$")
    assert HASHER.verify(bob.password_hash, "bob's pw ")  # only the line end is stripped
    assert (bob.quota, bob.home, bob.enabled) == (None, None, True)


def test_add_with_crlf_line_end(db: UserDB) -> None:
    assert on(db, "add", "bob", stdin="pw\r\n").code == 0
    assert HASHER.verify(record(db, "bob").password_hash, "pw")


def test_add_prompts_twice_on_a_terminal(db: UserDB) -> None:
    outcome = on(db, "add", "bob", answers=["s3cret", "s3cret"])
    assert outcome.code == 0
    assert outcome.prompts == ["New password for bob: ", "Again: "]
    assert HASHER.verify(record(db, "bob").password_hash, "s3cret")


def test_add_refuses_different_passwords(db: UserDB) -> None:
    assert_failed(on(db, "add", "bob", answers=["one", "two"]), "the passwords differ")
    assert db.get("bob") is None


@pytest.mark.parametrize(("stdin", "answers"), [("", None), ("\n", None), ("", ["", ""])],
                         ids=["eof", "blank-line", "terminal"])
def test_add_refuses_an_empty_password(db: UserDB, stdin: str,
                                       answers: list[str] | None) -> None:
    assert_failed(on(db, "add", "bob", stdin=stdin, answers=answers), "empty password")
    assert db.get("bob") is None


@pytest.mark.parametrize(("quota", "stored", "shown"), [
    ("10M", 10 * 1024 * 1024, "10.0 MiB"),
    ("500K", 500 * 1024, "500.0 KiB"),
    ("123", 123, "123 B"),
    ("unlimited", None, "unlimited"),
])
def test_add_with_quota(db: UserDB, quota: str, stored: int | None, shown: str) -> None:
    outcome = on(db, "add", "bob", "--quota", quota, stdin="pw\n")
    assert outcome.out == f"added bob (quota {shown})\n"
    assert record(db, "bob").quota == stored


def test_add_with_home(db: UserDB) -> None:
    assert on(db, "add", "bob", "--home", "shared/bob", stdin="pw\n").code == 0
    assert record(db, "bob").home == "shared/bob"


def test_add_bad_quota_is_a_usage_error(db: UserDB, capsys: pytest.CaptureFixture[str]) -> None:
    assert on(db, "add", "bob", "--quota", "lots", stdin="pw\n").code == 2
    assert "invalid size 'lots'" in capsys.readouterr().err
    assert db.get("bob") is None


def test_add_existing_user_fails_before_asking(db: UserDB) -> None:
    stdin = io.StringIO("new-pw\n")
    out, err = io.StringIO(), io.StringIO()
    code = run(["--users", str(db.path), "add", "alice"], AdminIO(stdin, out, err, hasher=HASHER),
               env={})
    assert (code, err.getvalue()) == (1, "ftpkit-admin: user 'alice' already exists\n")
    assert stdin.tell() == 0
    assert HASHER.verify(record(db, "alice").password_hash, "alice-pw")


def test_add_bad_name(db: UserDB) -> None:
    outcome = on(db, "add", "../x", stdin="pw\n")
    assert outcome.code == 1
    assert outcome.err.startswith("ftpkit-admin: invalid user name '../x'")
    assert outcome.err.count("\n") == 1
    assert [u.name for u in db.list()] == ["alice"]


@pytest.mark.parametrize("argv", [
    ["add", "bob", "--password", "x"],
    ["add", "bob", "--password=x"],
    ["add", "bob", "x"],
    ["passwd", "alice", "x"],
    ["passwd", "alice", "-p", "x"],
])
def test_password_is_never_taken_from_the_command_line(
        db: UserDB, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert on(db, *argv, stdin="pw\n").code == 2
    assert "unrecognized arguments" in capsys.readouterr().err
    assert db.get("bob") is None
    assert HASHER.verify(record(db, "alice").password_hash, "alice-pw")


# -- passwd ------------------------------------------------------------------


def test_passwd(db: UserDB) -> None:
    outcome = on(db, "passwd", "alice", stdin="new-pw\n")
    assert (outcome.code, outcome.out) == (0, "password changed for alice\n")
    stored = record(db, "alice").password_hash
    assert HASHER.verify(stored, "new-pw") and not HASHER.verify(stored, "alice-pw")


def test_passwd_on_a_terminal_with_different_passwords(db: UserDB) -> None:
    assert_failed(on(db, "passwd", "alice", answers=["a", "b"]), "the passwords differ")
    assert HASHER.verify(record(db, "alice").password_hash, "alice-pw")


def test_passwd_refuses_an_empty_password(db: UserDB) -> None:
    assert_failed(on(db, "passwd", "alice", stdin="\n"), "empty password")
    assert HASHER.verify(record(db, "alice").password_hash, "alice-pw")


def test_passwd_unknown_user(db: UserDB) -> None:
    assert_failed(on(db, "passwd", "ghost", stdin="pw\n"), "no user 'ghost'")


# -- set-quota, enable, disable, remove --------------------------------------


@pytest.mark.parametrize(("size", "stored", "shown"), [
    ("2G", 2 * 1024**3, "2.0 GiB"), ("10MiB", 10 * 1024**2, "10.0 MiB"),
    ("0", 0, "0 B"), ("unlimited", None, "unlimited")])
def test_set_quota(db: UserDB, size: str, stored: int | None, shown: str) -> None:
    db.set_quota("alice", 1)
    outcome = on(db, "set-quota", "alice", size)
    assert (outcome.code, outcome.out) == (0, f"quota of alice is now {shown}\n")
    assert record(db, "alice").quota == stored


def test_set_quota_bad_size_is_a_usage_error(db: UserDB) -> None:
    assert on(db, "set-quota", "alice", "-1").code == 2
    assert record(db, "alice").quota is None


def test_disable_and_enable(db: UserDB) -> None:
    assert on(db, "disable", "alice").out == "alice disabled\n"
    assert record(db, "alice").enabled is False
    assert on(db, "enable", "alice").out == "alice enabled\n"
    assert record(db, "alice").enabled is True


def test_remove(db: UserDB) -> None:
    outcome = on(db, "remove", "alice")
    assert (outcome.code, outcome.out) == (
        0, "removed alice (their home directory is left in place)\n")
    assert db.get("alice") is None


@pytest.mark.parametrize("argv", [["set-quota", "ghost", "1M"], ["enable", "ghost"],
                                  ["disable", "ghost"], ["remove", "ghost"]])
def test_unknown_user(db: UserDB, argv: list[str]) -> None:
    assert_failed(on(db, *argv), "no user 'ghost'")


# -- list --------------------------------------------------------------------


def test_list(db: UserDB) -> None:
    db.add("bob", HASHER.hash("pw"), 10 * 1024 * 1024, "shared/bob")
    db.set_enabled("bob", False)
    outcome = on(db, "list")
    assert outcome.code == 0
    assert outcome.out.splitlines() == [
        "NAME       QUOTA  ENABLED  HOME",
        "alice  unlimited  yes      <root>/alice",
        "bob     10.0 MiB  no       shared/bob",
    ]


def test_list_without_users(tmp_path: Path) -> None:
    outcome = admin(["--users", str(tmp_path / "new.sqlite"), "list"])
    assert outcome.out.splitlines() == ["NAME  QUOTA  ENABLED  HOME"]


# -- the database file and the command line ----------------------------------


def test_users_option_creates_the_database(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "users.sqlite"
    assert admin(["--users", str(path), "add", "bob"], stdin="pw\n").code == 0
    assert UserDB(path).get("bob") is not None


def test_ftpkit_users_env_is_used_without_the_option(tmp_path: Path) -> None:
    path = tmp_path / "env.sqlite"
    assert admin(["add", "bob"], stdin="pw\n", env={"FTPKIT_USERS": str(path)}).code == 0
    assert UserDB(path).get("bob") is not None


def test_users_option_wins_over_the_env(tmp_path: Path) -> None:
    chosen, ignored = tmp_path / "chosen.sqlite", tmp_path / "ignored.sqlite"
    admin(["--users", str(chosen), "add", "bob"], stdin="pw\n",
          env={"FTPKIT_USERS": str(ignored)})
    assert UserDB(chosen).get("bob") is not None
    assert not ignored.exists()


def test_default_database_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert admin(["add", "bob"], stdin="pw\n").code == 0
    assert UserDB(tmp_path / "var" / "users.sqlite").get("bob") is not None


def test_newer_schema_is_one_line_error(db: UserDB) -> None:
    with closing(sqlite3.connect(db.path)) as conn:
        conn.execute("PRAGMA user_version = 99")
        conn.commit()
    outcome = on(db, "list")
    assert outcome.code == 1 and outcome.out == ""
    assert outcome.err.startswith("ftpkit-admin: ") and "schema 99" in outcome.err
    assert outcome.err.count("\n") == 1


@pytest.mark.parametrize("kind", ["directory", "not-sqlite"])
def test_unusable_database_is_one_line_error(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "users.sqlite"
    if kind == "directory":
        path.mkdir()
    else:
        path.write_bytes(b"this is not a database, just some text" * 100)
    outcome = admin(["--users", str(path), "list"])
    assert outcome.code == 1 and outcome.out == ""
    assert outcome.err.startswith(f"ftpkit-admin: {path}: ")
    assert outcome.err.count("\n") == 1


@pytest.mark.parametrize("argv", [[], ["bogus"], ["add"], ["set-quota", "alice"]])
def test_usage_errors_exit_2(tmp_path: Path, argv: list[str],
                             capsys: pytest.CaptureFixture[str]) -> None:
    assert admin(["--users", str(tmp_path / "u.sqlite"), *argv]).code == 2
    assert "usage: ftpkit-admin" in capsys.readouterr().err
    assert not (tmp_path / "u.sqlite").exists()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert admin(["--version"]).code == 0
    assert capsys.readouterr().out.startswith("ftpkit-admin ")


def test_check_config_accepts_the_shipped_config() -> None:
    shipped = Path(__file__).resolve().parents[2] / "conf" / "ftpkit.toml"
    outcome = admin(["check-config", str(shipped)])
    assert (outcome.code, outcome.err) == (0, "")
    assert outcome.out.splitlines()[0] == "ok"
    assert "listen: tcp:8021:interface=127.0.0.1" in outcome.out
    assert "  log: where twistd logs (--logfile), text, info and above\n" in outcome.out
    assert "  audit: in the log\n" in outcome.out


def test_check_config_says_where_the_logs_go(tmp_path: Path) -> None:
    path = tmp_path / "ftpkit.toml"
    path.write_text('[logging]\nfile = "-"\nformat = "json"\naudit = "audit.jsonl"\n')
    out = admin(["check-config", str(path)]).out
    assert "  log: standard output, json, info and above\n" in out
    assert f"  audit: {tmp_path / 'audit.jsonl'}\n" in out


@pytest.mark.parametrize(("text", "message"), [
    ("[server]\nthreads = 0\n", "server.threads must be an integer >= 1, not 0"),
    ("[logging]\nformat = 'xml'\n", "logging.format must be 'text' or 'json', not 'xml'"),
    ("[transfers]\nspeed = 1\n", "unknown key transfers.speed;"),
    ('[commands]\nenabled = ["nope"]\n', "commands.enabled names 'nope'"),
    ('[server]\nlisten = ["ssl:0:privateKey=/no/such.pem"]\n',
     "bad listen endpoint 'ssl:0:privateKey=/no/such.pem' (server.listen or --listen): "
     "cannot read /no/such.pem: No such file or directory"),
])
def test_check_config_names_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "ftpkit.toml"
    path.write_text(text)
    outcome = admin(["check-config", str(path)])
    assert (outcome.code, outcome.out) == (1, "")
    assert message in outcome.err and outcome.err.startswith("ftpkit-admin: ")
    assert not (tmp_path / "var").exists()  # nothing made


def test_check_config_of_a_missing_file(tmp_path: Path) -> None:
    outcome = admin(["check-config", str(tmp_path / "nope.toml")])
    assert outcome.code == 1 and "cannot read config" in outcome.err
