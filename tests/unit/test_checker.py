"""UserDBChecker: passwords checked against the user database, at equal cost."""

from __future__ import annotations

from pathlib import Path

import argon2
import pytest
from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import IUsernamePassword, UsernamePassword
from twisted.cred.error import UnauthorizedLogin
from zope.interface.verify import verifyObject

from ftpkit.auth.checker import UserDBChecker
from ftpkit.auth.passwords import PasswordHasher
from ftpkit.auth.userdb import UserDB
from ftpkit.threads import InlineThreads
from tests.serverkit import make_users, result_of


class CountingHasher(PasswordHasher):
    """Records the stored hash each verify() is given."""

    def __init__(self, hasher: argon2.PasswordHasher | None = None) -> None:
        super().__init__(hasher)
        self.verified: list[str] = []

    def verify(self, stored_hash: str, password: str) -> bool:
        self.verified.append(stored_hash)
        return super().verify(stored_hash, password)


@pytest.fixture
def users(tmp_path: Path) -> UserDB:
    db = make_users(tmp_path, alice="alice-pw", bob="bob-pw")
    db.set_enabled("bob", False)
    return db


@pytest.fixture
def hasher() -> CountingHasher:
    hasher = CountingHasher.cheap()
    assert isinstance(hasher, CountingHasher)
    return hasher


@pytest.fixture
def checker(users: UserDB, hasher: CountingHasher) -> UserDBChecker:
    return UserDBChecker(users, hasher, InlineThreads())


def check(checker: UserDBChecker, name: bytes, password: bytes) -> str:
    avatar_id = result_of(checker.requestAvatarId(UsernamePassword(name, password)))
    assert isinstance(avatar_id, str)
    return avatar_id


def stored_hash(users: UserDB, name: str) -> str:
    record = users.get(name)
    assert record is not None
    return record.password_hash


def test_provides_the_interface(checker: UserDBChecker) -> None:
    assert verifyObject(ICredentialsChecker, checker)
    assert checker.credentialInterfaces == (IUsernamePassword,)


def test_right_password_gives_the_name(checker: UserDBChecker, users: UserDB,
                                       hasher: CountingHasher) -> None:
    assert check(checker, b"alice", b"alice-pw") == "alice"
    assert hasher.verified == [stored_hash(users, "alice")]


@pytest.mark.parametrize(("name", "password"), [
    (b"alice", b"wrong"),
    (b"alice", b""),
    (b"alice", b"bob-pw"),
    (b"Alice", b"alice-pw"),
    (b"nobody", b"alice-pw"),
    (b"", b""),
    (b"\xff\xfe", b"alice-pw"),
    (b"bob", b"bob-pw"),  # disabled
])
def test_refused_logins_cost_exactly_one_verification(checker: UserDBChecker,
                                                      hasher: CountingHasher,
                                                      name: bytes, password: bytes) -> None:
    with pytest.raises(UnauthorizedLogin, match="wrong user name or password"):
        check(checker, name, password)
    assert len(hasher.verified) == 1


def test_unknown_user_is_verified_against_the_dummy_hash(checker: UserDBChecker,
                                                         hasher: CountingHasher) -> None:
    with pytest.raises(UnauthorizedLogin):
        check(checker, b"nobody", b"x")
    assert hasher.verified == [hasher.dummy_hash]


def test_disabled_user_is_verified_like_the_others(checker: UserDBChecker, users: UserDB,
                                                   hasher: CountingHasher) -> None:
    with pytest.raises(UnauthorizedLogin):
        check(checker, b"bob", b"bob-pw")
    assert hasher.verified == [stored_hash(users, "bob")]


def test_changes_apply_at_the_next_check(checker: UserDBChecker, users: UserDB) -> None:
    users.set_enabled("bob", True)
    assert check(checker, b"bob", b"bob-pw") == "bob"
    users.remove("alice")
    with pytest.raises(UnauthorizedLogin):
        check(checker, b"alice", b"alice-pw")


def test_utf8_names_and_passwords(tmp_path: Path) -> None:
    users = make_users(tmp_path, carol="pässwörd ☃")
    checker = UserDBChecker(users, PasswordHasher.cheap(), InlineThreads())
    assert check(checker, b"carol", "pässwörd ☃".encode()) == "carol"
    with pytest.raises(UnauthorizedLogin):
        check(checker, b"carol", "pässwörd ☃".encode("latin-1", "replace"))


def argon2_parameters(encoded: str) -> str:
    """'$argon2id$v=19$m=65536,t=3,p=4$salt$hash' -> 'argon2id v=19 m=65536,t=3,p=4'."""
    return " ".join(encoded.split("$")[1:4])


def test_the_dummy_hash_costs_what_a_real_hash_does(tmp_path: Path) -> None:
    real = PasswordHasher()
    users = make_users(tmp_path)
    users.add("dave", real.hash("dave-pw"), None, None)
    assert argon2_parameters(real.dummy_hash) == argon2_parameters(stored_hash(users, "dave"))


def test_the_dummy_hash_is_made_before_the_first_login(users: UserDB) -> None:
    hasher = PasswordHasher.cheap()
    UserDBChecker(users, hasher, InlineThreads())
    assert "dummy_hash" in vars(hasher)  # so the first unknown user costs no extra hash


def test_unknown_users_take_as_long_as_wrong_passwords(tmp_path: Path) -> None:
    """Wall-clock, interleaved, medians within 2x (argon2 at a few ms a check)."""
    import statistics
    import time

    real = PasswordHasher(argon2.PasswordHasher(time_cost=2, memory_cost=4096, parallelism=1))
    users = make_users(tmp_path)
    users.add("dave", real.hash("dave-pw"), None, None)
    checker = UserDBChecker(users, real, InlineThreads())
    times: dict[bytes, list[float]] = {b"dave": [], b"nobody": []}
    for _ in range(7):
        for name in times:
            start = time.perf_counter()
            with pytest.raises(UnauthorizedLogin):
                check(checker, name, b"wrong")
            times[name].append(time.perf_counter() - start)
    known, unknown = (statistics.median(t) for t in times.values())
    assert 0.5 < unknown / known < 2.0, (known, unknown)


def test_a_verifier_given_checks_every_password_instead_of_the_hasher(
        users: UserDB, hasher: CountingHasher) -> None:
    asked: list[tuple[str, str]] = []

    def verify(stored: str, password: str) -> bool:  # as the server's worker processes
        asked.append((stored, password))
        return password == "alice-pw"

    checker = UserDBChecker(users, hasher, InlineThreads(), verify=verify)
    assert check(checker, b"alice", b"alice-pw") == "alice"
    with pytest.raises(UnauthorizedLogin):
        check(checker, b"nobody", b"alice-pw")  # the dummy hash, through it too
    assert asked == [(stored_hash(users, "alice"), "alice-pw"), (hasher.dummy_hash, "alice-pw")]
    assert hasher.verified == []
