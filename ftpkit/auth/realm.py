"""
The Cred realm: turns an authenticated user name into an L{Avatar}.

test-case-name: tests.unit.test_realm
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.cred.error import UnauthorizedLogin
from twisted.cred.portal import IRealm
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from zope.interface import implementer

from ftpkit.auth.avatar import Avatar, IAvatar
from ftpkit.auth.userdb import UserDB
from ftpkit.threads import ThreadRunner


@implementer(IRealm)
class Realm:
    """
    Hands each user an avatar bound to their home: C{ROOT/<name>} unless the user
    database names another (relative paths are taken under C{ROOT}). The home is
    created, mode 0700, on first login.
    """

    log = Logger()

    def __init__(self, users: UserDB, root: Path, threads: ThreadRunner) -> None:
        self._users = users
        self._root = root
        self._threads = threads

    def requestAvatar(self, avatarId: Any, mind: object, *interfaces: Any) -> Deferred[Any]:
        if IAvatar not in interfaces:
            raise NotImplementedError("ftpkit's realm only provides IAvatar")
        d = self._threads.run(self._load, avatarId)
        d.addCallback(lambda avatar: (IAvatar, avatar, avatar.logout))
        return d

    def home_of(self, name: str, home: str | None) -> Path:
        return self._root / (home if home is not None else name)

    def _load(self, name: str) -> Avatar:
        record = self._users.get(name)
        if record is None:  # removed between the check and now
            raise UnauthorizedLogin("wrong user name or password")
        home = self.home_of(record.name, record.home)
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        return Avatar(record.name, home.resolve(), record.quota, on_logout=self._logged_out)

    def _logged_out(self, avatar: Avatar) -> None:
        self.log.info("logout user={user}", user=avatar.name)
