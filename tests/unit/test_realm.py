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
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
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


class HeldThreads:
    """Runs each callable only when the test says so: reads can be in flight."""

    def __init__(self) -> None:
        self.queue: list[tuple[Any, Any]] = []

    def run(self, f: Any, *args: Any, **kwargs: Any) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        self.queue.append((lambda: f(*args, **kwargs), d))
        return d

    def has_backlog(self) -> bool:
        return False

    def finish(self) -> None:
        while self.queue:
            job, d = self.queue.pop(0)
            try:
                d.callback(job())
            except Exception as e:
                d.errback(e)


class CountingUsers(UserDB):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gets = 0
        self.broken = False

    def get(self, name: str) -> Any:
        self.gets += 1
        if self.broken:
            raise OSError("database unreadable")
        return super().get(name)


@pytest.fixture
def counted(users: UserDB) -> CountingUsers:
    return CountingUsers(users.path)


def test_refreshes_share_a_recent_read_of_the_record(counted: CountingUsers, root: Path) -> None:
    clock = Clock()
    realm = Realm(counted, root, InlineThreads(), clock=clock)
    _, avatar, _ = login(realm, "alice")
    counted.gets = 0
    for _ in range(3):
        result_of(Deferred.fromCoroutine(avatar.refresh_quota(max_age=1.0)))
    assert counted.gets == 1
    result_of(Deferred.fromCoroutine(avatar.refresh_quota()))  # max_age 0: always afresh
    assert counted.gets == 2
    counted.set_quota("alice", 123)
    result_of(Deferred.fromCoroutine(avatar.refresh_quota(max_age=1.0)))
    assert counted.gets == 2 and avatar.quota.limit is None  # the read of a moment ago
    clock.advance(1.0)
    result_of(Deferred.fromCoroutine(avatar.refresh_quota(max_age=1.0)))
    assert counted.gets == 3 and avatar.quota.limit == 123


def test_a_disabled_account_is_seen_once_the_shared_read_is_too_old(
        counted: CountingUsers, root: Path) -> None:
    from ftpkit.protocol.errors import CommandError

    clock = Clock()
    realm = Realm(counted, root, InlineThreads(), clock=clock)
    _, avatar, _ = login(realm, "alice")
    result_of(Deferred.fromCoroutine(avatar.refresh_quota(max_age=1.0)))
    counted.set_enabled("alice", False)
    result_of(Deferred.fromCoroutine(avatar.refresh_quota(max_age=1.0)))  # within the second
    clock.advance(1.0)
    with pytest.raises(CommandError) as e:
        result_of(Deferred.fromCoroutine(avatar.refresh_quota(max_age=1.0)))
    assert e.value.code == "permission_denied"


def test_refreshes_wait_on_a_read_in_flight(counted: CountingUsers, root: Path) -> None:
    threads = HeldThreads()
    realm = Realm(counted, root, threads, clock=Clock())
    d = realm.requestAvatar("alice", None, IAvatar)
    threads.finish()
    _, avatar, _ = result_of(d)
    threads.finish()  # the first session's usage scan
    counted.gets = 0
    waits = [Deferred.fromCoroutine(avatar.refresh_quota(max_age=1.0)) for _ in range(5)]
    assert len(threads.queue) == 1 and not any(w.called for w in waits)
    threads.finish()
    assert counted.gets == 1
    for w in waits:
        result_of(w)


def test_a_failed_read_fails_its_waiters_and_the_next_refresh_reads_again(
        counted: CountingUsers, root: Path) -> None:
    threads = HeldThreads()
    realm = Realm(counted, root, threads, clock=Clock())
    d = realm.requestAvatar("alice", None, IAvatar)
    threads.finish()
    _, avatar, _ = result_of(d)
    threads.finish()
    counted.broken = True
    waits = [Deferred.fromCoroutine(avatar.refresh_quota(max_age=1.0)) for _ in range(2)]
    threads.finish()
    for w in waits:
        with pytest.raises(OSError):
            result_of(w)
    counted.broken, counted.gets = False, 0
    again = Deferred.fromCoroutine(avatar.refresh_quota(max_age=1.0))
    threads.finish()
    result_of(again)
    assert counted.gets == 1
