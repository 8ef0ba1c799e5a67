"""The SQLite user database, user names, and argon2id password hashing."""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ftpkit.auth.passwords import PasswordHasher
from ftpkit.auth.userdb import UserDB, UserDBError, UserRecord, check_username
from tests.serverkit import HASHER


@pytest.fixture
def db(tmp_path: Path) -> UserDB:
    users = UserDB(tmp_path / "var" / "users.sqlite")
    users.create()
    return users


def set_schema(path: Path, version: int) -> None:
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(f"PRAGMA user_version = {version}")
        conn.commit()


# -- the file ----------------------------------------------------------------


def test_create_makes_parents_and_a_private_file(db: UserDB) -> None:
    assert db.path.is_file()
    assert stat.S_IMODE(db.path.stat().st_mode) == 0o600
    assert db.list() == []


def test_create_is_idempotent_and_keeps_users(db: UserDB) -> None:
    db.add("alice", "h", None, None)
    db.path.chmod(0o644)
    db.create()
    assert stat.S_IMODE(db.path.stat().st_mode) == 0o600
    assert [u.name for u in db.list()] == ["alice"]


def test_newer_schema_is_refused(db: UserDB) -> None:
    set_schema(db.path, 99)
    with pytest.raises(UserDBError, match="schema 99.*upgrade ftpkit"):
        db.create()


def test_accepts_a_path_string(tmp_path: Path) -> None:
    db = UserDB(str(tmp_path / "u.sqlite"))
    db.create()
    assert db.path == tmp_path / "u.sqlite"


# -- users -------------------------------------------------------------------


def test_add_and_get(db: UserDB) -> None:
    db.add("alice", "hash-a", 10 * 1024 * 1024, "shared/alice")
    record = db.get("alice")
    assert record is not None
    assert (record.name, record.password_hash, record.quota, record.home, record.enabled) == (
        "alice", "hash-a", 10 * 1024 * 1024, "shared/alice", True)


def test_unlimited_quota_and_default_home_are_none(db: UserDB) -> None:
    db.add("bob", "h", None, None)
    record = db.get("bob")
    assert record is not None and record.quota is None and record.home is None


def test_get_unknown_user_is_none(db: UserDB) -> None:
    assert db.get("nobody") is None
    assert db.get("") is None
    assert db.get("x' OR '1'='1") is None


def test_names_are_case_sensitive(db: UserDB) -> None:
    db.add("alice", "h", None, None)
    assert db.get("Alice") is None
    db.add("Alice", "h2", None, None)
    assert [u.name for u in db.list()] == ["Alice", "alice"]


def test_list_is_sorted_by_name(db: UserDB) -> None:
    for name in ("carol", "alice", "bob"):
        db.add(name, f"h-{name}", None, None)
    assert [(u.name, u.password_hash) for u in db.list()] == [
        ("alice", "h-alice"), ("bob", "h-bob"), ("carol", "h-carol")]
    assert all(isinstance(u, UserRecord) for u in db.list())


def test_duplicate_add_is_refused_and_keeps_the_first(db: UserDB) -> None:
    db.add("alice", "first", 1, None)
    with pytest.raises(UserDBError, match="user 'alice' already exists"):
        db.add("alice", "second", None, None)
    record = db.get("alice")
    assert record is not None and (record.password_hash, record.quota) == ("first", 1)


def test_set_quota(db: UserDB) -> None:
    db.add("alice", "h", None, None)
    db.set_quota("alice", 2048)
    assert getattr(db.get("alice"), "quota", "missing") == 2048
    db.set_quota("alice", None)
    assert getattr(db.get("alice"), "quota", "missing") is None


def test_set_enabled(db: UserDB) -> None:
    db.add("alice", "h", None, None)
    db.set_enabled("alice", False)
    assert getattr(db.get("alice"), "enabled", None) is False
    db.set_enabled("alice", True)
    assert getattr(db.get("alice"), "enabled", None) is True


def test_set_password_hash_changes_only_that_user(db: UserDB) -> None:
    db.add("alice", "old", None, None)
    db.add("bob", "bob-hash", None, None)
    db.set_password_hash("alice", "new")
    assert getattr(db.get("alice"), "password_hash", None) == "new"
    assert getattr(db.get("bob"), "password_hash", None) == "bob-hash"


def test_remove(db: UserDB) -> None:
    db.add("alice", "h", None, None)
    db.add("bob", "h", None, None)
    db.remove("alice")
    assert db.get("alice") is None
    assert [u.name for u in db.list()] == ["bob"]


@pytest.mark.parametrize("change", [
    lambda db: db.set_quota("ghost", 1),
    lambda db: db.set_enabled("ghost", False),
    lambda db: db.set_password_hash("ghost", "h"),
    lambda db: db.remove("ghost"),
], ids=["set_quota", "set_enabled", "set_password_hash", "remove"])
def test_changing_a_missing_user_is_an_error(db: UserDB,
                                             change: Callable[[UserDB], None]) -> None:
    db.add("alice", "h", None, None)
    with pytest.raises(UserDBError, match="no user 'ghost'"):
        change(db)
    assert [u.name for u in db.list()] == ["alice"]


def test_a_second_handle_sees_changes(db: UserDB) -> None:
    other = UserDB(db.path)
    db.add("alice", "h", None, None)
    assert other.get("alice") is not None
    other.set_quota("alice", 5)
    assert getattr(db.get("alice"), "quota", None) == 5


# -- user names --------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "alice", "Bob", "0", "a.b", "a_b", "a-b", "x" * 64,
                                  "9lives", "a..b"])
def test_good_user_names(name: str) -> None:
    assert check_username(name) == name


@pytest.mark.parametrize("name", ["", ".", "..", ".hidden", "-rf", "_x", "a/b", "../etc",
                                  "a b", "a\n", "a\x00", "é", "x" * 65, "a:b", "a\\b"])
def test_bad_user_names(name: str) -> None:
    with pytest.raises(UserDBError, match="invalid user name"):
        check_username(name)


def test_add_refuses_a_bad_name(db: UserDB) -> None:
    with pytest.raises(UserDBError, match="invalid user name '../x'"):
        db.add("../x", "h", None, None)
    assert db.list() == []


# -- passwords ---------------------------------------------------------------


def test_hash_is_argon2id_and_salted() -> None:
    first, second = HASHER.hash("pw"), HASHER.hash("pw")
    assert first.startswith("$argon2id$") and second.startswith("$argon2id$")
    assert first != second


def test_default_hasher_is_argon2id() -> None:
    assert PasswordHasher()._hasher.type.name == "ID"


def test_verify_right_and_wrong_password() -> None:
    stored = HASHER.hash("correct horse ☃")
    assert HASHER.verify(stored, "correct horse ☃") is True
    assert HASHER.verify(stored, "correct horse") is False
    assert HASHER.verify(stored, "") is False


def test_verify_accepts_hashes_made_with_other_parameters() -> None:
    stored = PasswordHasher.cheap().hash("pw")
    assert PasswordHasher().verify(stored, "pw") is True


@pytest.mark.parametrize("garbage", ["", "garbage", "$argon2id$", "$argon2id$v=19$m=8$x$y",
                                     "$2b$12$abcdefghijklmnopqrstuv", "é", "$argon2id$v=19$ü"])
def test_verify_against_garbage_is_false(garbage: str) -> None:
    assert HASHER.verify(garbage, "pw") is False


@given(st.text(max_size=80))
def test_verify_against_any_text_is_false(garbage: str) -> None:
    assert HASHER.verify(garbage, "pw") is False


def test_truncated_hash_is_false() -> None:
    stored = HASHER.hash("pw")
    assert HASHER.verify(stored[:-4], "pw") is False


@pytest.mark.parametrize("password", ["", "pw", "not a password", "password",
                                      "not a password: ftpkit.auth.passwords"])
def test_dummy_hash_matches_no_password(password: str) -> None:
    dummy = HASHER.dummy_hash
    assert dummy.startswith("$argon2id$")
    assert HASHER.verify(dummy, password) is False
    assert HASHER.dummy_hash is dummy  # made once
