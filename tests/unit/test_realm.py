"""Realm and Avatar: homes, quotas, logout, and the Cred interfaces."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import UsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.cred.portal import IRealm, Portal
from twisted.logger import capturedLogs
from zope.interface import Interface
from zope.interface.verify import verifyObject

from ftpkit.auth.avatar import Avatar, IAvatar
from ftpkit.auth.checker import UserDBChecker
from ftpkit.auth.realm import Realm
from ftpkit.auth.userdb import UserDB
from ftpkit.threads import InlineThreads
from tests.serverkit import HASHER, make_users, result_of


class IOther(Interface):
    pass


@pytest.fixture
def users(tmp_path: Path) -> UserDB:
    return make_users(tmp_path, alice="alice-pw")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "homes"
    path.mkdir()
    return path


@pytest.fixture
def realm(users: UserDB, root: Path) -> Realm:
    return Realm(users, root, InlineThreads())


def login(realm: Realm, name: str) -> tuple[Any, Avatar, Any]:
    result = result_of(realm.requestAvatar(name, None, IAvatar))
    assert isinstance(result, tuple) and len(result) == 3
    return result


def add_user(users: UserDB, name: str, quota: int | None = None, home: str | None = None) -> None:
    users.add(name, HASHER.hash("pw"), quota, home)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_provides_the_interfaces(realm: Realm, users: UserDB) -> None:
    assert verifyObject(IRealm, realm)
    assert verifyObject(ICredentialsChecker, UserDBChecker(users, HASHER, InlineThreads()))
    _, avatar, _ = login(realm, "alice")
    assert verifyObject(IAvatar, avatar)


def test_avatar_for_a_user_with_a_new_home(realm: Realm, root: Path) -> None:
    assert not (root / "alice").exists()
    interface, avatar, logout = login(realm, "alice")
    assert interface is IAvatar
    assert isinstance(avatar, Avatar) and avatar.name == "alice"
    assert avatar.home == (root / "alice").resolve()
    assert avatar.home.is_dir() and mode(avatar.home) == 0o700
    assert logout == avatar.logout


def test_existing_home_is_used_as_it_is(realm: Realm, root: Path) -> None:
    (root / "alice").mkdir()
    (root / "alice").chmod(0o750)
    (root / "alice" / "file").write_bytes(b"kept")
    _, avatar, _ = login(realm, "alice")
    assert (avatar.home / "file").read_bytes() == b"kept"
    assert mode(avatar.home) == 0o750


def test_relative_home_is_under_the_root(realm: Realm, users: UserDB, root: Path) -> None:
    add_user(users, "carol", home="shared/carol")
    _, avatar, _ = login(realm, "carol")
    assert avatar.home == (root / "shared" / "carol").resolve()
    assert mode(avatar.home) == 0o700
    assert not (root / "carol").exists()


def test_absolute_home_is_honoured(realm: Realm, users: UserDB, root: Path,
                                   tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere" / "dave"
    add_user(users, "dave", home=str(elsewhere))
    _, avatar, _ = login(realm, "dave")
    assert avatar.home == elsewhere.resolve()
    assert elsewhere.is_dir() and mode(elsewhere) == 0o700
    assert list(root.iterdir()) == []


@pytest.mark.parametrize("quota", [None, 0, 1234, 10 * 1024**3])
def test_quota_comes_from_the_record(realm: Realm, users: UserDB, quota: int | None) -> None:
    add_user(users, "erin", quota=quota)
    _, avatar, _ = login(realm, "erin")
    assert avatar.quota.limit == quota


def test_user_removed_before_the_avatar_is_made(realm: Realm, users: UserDB, root: Path) -> None:
    users.remove("alice")
    with pytest.raises(UnauthorizedLogin):
        login(realm, "alice")
    assert not (root / "alice").exists()


def test_other_interfaces_are_not_implemented(realm: Realm) -> None:
    with pytest.raises(NotImplementedError):
        realm.requestAvatar("alice", None, IOther)
    with pytest.raises(NotImplementedError):
        realm.requestAvatar("alice", None)


def test_avatar_is_chosen_among_several_interfaces(realm: Realm) -> None:
    interface, avatar, _ = result_of(realm.requestAvatar("alice", None, IOther, IAvatar))
    assert interface is IAvatar and avatar.name == "alice"


def test_logout_is_idempotent(realm: Realm) -> None:
    _, first, logout = login(realm, "alice")
    _, second, _ = login(realm, "alice")
    assert first.quota is second.quota  # one account per user, shared by sessions
    assert first.quota.sessions == 2
    with capturedLogs() as events:
        logout()
        logout()
        first.logout()
    assert first.logged_out and not second.logged_out
    assert first.quota.sessions == 1
    assert [e.get("user") for e in events if "logout" in e.get("log_format", "")] == ["alice"]


def test_avatar_logout_calls_on_logout_once() -> None:
    calls: list[Avatar] = []
    avatar = Avatar("alice", Path("/home/alice"), None, None, on_logout=calls.append)
    assert not avatar.logged_out
    avatar.logout()
    avatar.logout()
    assert calls == [avatar] and avatar.logged_out


def test_avatar_logout_without_a_callback() -> None:
    avatar = Avatar("alice", Path("/home/alice"), None, None)
    avatar.logout()
    assert avatar.logged_out


def test_portal_login_end_to_end(realm: Realm, users: UserDB) -> None:
    portal = Portal(realm, [UserDBChecker(users, HASHER, InlineThreads())])
    interface, avatar, _ = result_of(
        portal.login(UsernamePassword(b"alice", b"alice-pw"), None, IAvatar))
    assert interface is IAvatar and avatar.name == "alice"
    with pytest.raises(UnauthorizedLogin):
        result_of(portal.login(UsernamePassword(b"alice", b"nope"), None, IAvatar))


def test_sessions_of_one_user_share_one_storage_while_any_is_open(realm: Realm,
                                                                  users: UserDB) -> None:
    import gc

    add_user(users, "bob")
    _, first, logout_first = login(realm, "alice")
    _, second, logout_second = login(realm, "alice")
    _, other, logout_other = login(realm, "bob")
    assert first.storage is second.storage and first.home is first.storage.home
    assert other.storage is not first.storage
    logout_first()
    logout_second()
    del first, second, logout_first, logout_second  # (bound to the avatars)
    gc.collect()
    assert list(realm._storages.values()) == [other.storage]  # alice's is not kept alive
    logout_other()
