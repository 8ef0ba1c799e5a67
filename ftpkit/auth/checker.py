"""
The Cred credentials checker, backed by the user database.

test-case-name: tests.unit.test_checker

Public API: none (internal; commands reach the user through C{context.avatar}).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import IUsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred
from zope.interface import implementer

from ftpkit.auth.passwords import PasswordHasher
from ftpkit.auth.userdb import UserDB
from ftpkit.threads import ThreadRunner


@implementer(ICredentialsChecker)
class UserDBChecker:
    """
    Checks a user name and password in a thread. An unknown or disabled user costs
    one password verification, exactly like a wrong password, so timing does not
    tell which names exist.
    """

    credentialInterfaces = (IUsernamePassword,)

    def __init__(self, users: UserDB, hasher: PasswordHasher, threads: ThreadRunner,
                 verify: Callable[[str, str], bool] | None = None) -> None:
        self._users = users
        self._hasher = hasher
        self._threads = threads
        # blocking, like the hasher's own: the server's checks it in worker processes
        self._verify = verify if verify is not None else hasher.verify
        # made now, not at the first unknown user, whose check would then cost a hash more
        hasher.dummy_hash  # noqa: B018

    def requestAvatarId(self, credentials: IUsernamePassword) -> Deferred[Any]:
        return self._threads.run(self._check, credentials.username, credentials.password)

    def _check(self, username: bytes, password: bytes) -> str:
        name = username.decode("utf-8", "replace")
        record = self._users.get(name)
        stored = record.password_hash if record is not None else self._hasher.dummy_hash
        matches = self._verify(stored, password.decode("utf-8", "replace"))
        if record is None or not record.enabled or not matches:
            raise UnauthorizedLogin("wrong user name or password")
        return record.name
