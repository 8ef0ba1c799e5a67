"""
The Cred realm: turns an authenticated user name into an L{Avatar}.

test-case-name: tests.unit.test_realm

Public API: none (internal; commands reach the user through C{context.avatar}).
"""

from __future__ import annotations

import time
import weakref
from pathlib import Path
from typing import Any

from attrs import define, field
from twisted.cred.error import UnauthorizedLogin
from twisted.cred.portal import IRealm
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from ftpkit.auth.avatar import Avatar, IAvatar
from ftpkit.auth.userdb import UserDB, UserRecord
from ftpkit.protocol.errors import CommandError, ErrorCode
from ftpkit.storage.listing import ListingCache
from ftpkit.storage.local import LocalStorage
from ftpkit.storage.quota import QuotaBook
from ftpkit.threads import ThreadRunner


@define
class _Read:
    """One read of a user's record, shared by the refreshes that may use it."""

    started: float
    record: UserRecord | None = None
    failure: Failure | None = None
    done: bool = False
    waiting: list[Deferred[UserRecord | None]] = field(factory=list)


@implementer(IRealm)
class Realm:
    """
    Hands each user an avatar bound to their home: C{ROOT/<name>} unless the user
    database names another (relative paths are taken under C{ROOT}). The home is
    created, mode 0700, on first login. All of a user's sessions share one quota
    account, scanned when the first of them starts.

    A refresh re-reads the user's record (enabled? limit? rescan?) unless one read
    started less than its C{max_age} ago: a thousand puts starting at once in one
    account then cost one database read, not a thousand.
    """

    log = Logger()

    def __init__(self, users: UserDB, root: Path, threads: ThreadRunner,
                 quotas: QuotaBook | None = None, listings: ListingCache | None = None,
                 partial_ttl: float = 24 * 3600.0, clock: IReactorTime | None = None
                 ) -> None:
        if clock is None:
            from twisted.internet import reactor

            clock = reactor
        self._clock: IReactorTime = clock
        self._reads: dict[str, _Read] = {}
        self._users = users
        self._root = root
        self._threads = threads
        self.quotas = quotas if quotas is not None else QuotaBook()
        self._listings = listings if listings is not None else ListingCache()
        self._partial_ttl = partial_ttl
        # One storage per home, shared by its user's sessions while any is open: it is
        # immutable, and a user with many connections should not cost one each.
        self._storages: weakref.WeakValueDictionary[Path, LocalStorage] = \
            weakref.WeakValueDictionary()

    def requestAvatar(self, avatarId: Any, mind: object, *interfaces: Any) -> Deferred[Any]:
        if IAvatar not in interfaces:
            raise NotImplementedError("ftpkit's realm only provides IAvatar")
        return Deferred.fromCoroutine(self._login(avatarId))

    async def _login(self, name: str) -> tuple[Any, Avatar, Any]:
        record, home = await self._threads.run(self._prepare, name)
        storage = self._storages.get(home)
        if storage is None:
            storage = self._storages[home] = LocalStorage(home, self._threads, self._listings)
        async def scan() -> tuple[int, int]:
            # a user's first session: expire abandoned uploads, then count
            await storage.sweep_uploads(time.time() - self._partial_ttl, ())
            return await storage.usage()

        account = await self.quotas.open(record.name, record.quota, record.rescan,
                                         lambda: Deferred.fromCoroutine(scan()))
        avatar = Avatar(record.name, storage.home, storage, account, refresh=self._refresh,
                        on_logout=self._logged_out)
        return IAvatar, avatar, avatar.logout

    def home_of(self, name: str, home: str | None) -> Path:
        return self._root / (home if home is not None else name)

    def _prepare(self, name: str) -> tuple[UserRecord, Path]:
        record = self._users.get(name)
        if record is None:  # removed between the check and now
            raise UnauthorizedLogin("wrong user name or password")
        home = self.home_of(record.name, record.home)
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        return record, home.resolve()

    async def _refresh(self, avatar: Avatar, max_age: float = 0.0) -> None:
        record = await self._read(avatar.name, max_age)
        if record is None or not record.enabled:
            raise CommandError(ErrorCode.PERMISSION_DENIED, "this account has been disabled")
        await self.quotas.refresh(avatar.quota, record.quota, record.rescan,
                                  avatar.storage.usage)

    def _read(self, name: str, max_age: float) -> Deferred[UserRecord | None]:
        """The user's record, from a read started less than C{max_age} seconds ago."""
        now = self._clock.seconds()
        read = self._reads.get(name)
        if read is None or now - read.started >= max_age:
            read = self._reads[name] = _Read(now)
            self._threads.run(self._users.get, name).addCallbacks(
                self._got, self._failed, callbackArgs=(read,), errbackArgs=(name, read))
        if read.failure is not None:
            return fail(read.failure)
        if read.done:
            return succeed(read.record)
        waiter: Deferred[UserRecord | None] = Deferred()
        read.waiting.append(waiter)
        return waiter

    @staticmethod
    def _got(record: UserRecord | None, read: _Read) -> None:
        read.record, read.done = record, True
        waiting, read.waiting = read.waiting, []
        for waiter in waiting:
            waiter.callback(record)

    def _failed(self, failure: Failure, name: str, read: _Read) -> None:
        if self._reads.get(name) is read:  # the next refresh tries again
            del self._reads[name]
        read.failure, read.done = failure, True
        waiting, read.waiting = read.waiting, []
        for waiter in waiting:
            waiter.errback(failure)

    def _logged_out(self, avatar: Avatar) -> None:
        self.quotas.close(avatar.quota)
        if avatar.quota.sessions <= 0:
            self._reads.pop(avatar.name, None)
        self.log.info("logout user={user}", user=avatar.name)
