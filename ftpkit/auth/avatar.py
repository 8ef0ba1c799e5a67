"""
The avatar: what a logged-in session acts as.

test-case-name: tests.unit.test_realm

Public API: L{IAvatar} and its attributes. Commands reach the user's files and
quota only through the avatar: C{avatar.storage} is jailed to the home, and
C{avatar.resolve()} turns a client's path into a virtual path within it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from attrs import define, field
from zope.interface import Attribute, Interface, implementer

from ftpkit.storage.paths import resolve
from ftpkit.storage.quota import QuotaAccount


class IAvatar(Interface):
    name = Attribute("str: the user name")
    home = Attribute("pathlib.Path: the real path of the home (for logs; never sent)")
    storage = Attribute("ftpkit.storage.interfaces.IStorage: the home, jailed")
    quota = Attribute("ftpkit.storage.quota.QuotaAccount: limit and usage")
    cwd = Attribute("str: the session's current directory, a virtual path ('/' is home)")

    def resolve(path: str) -> str:
        """A client's path (relative to cwd, or absolute from home) as a virtual path."""

    def refresh_quota(max_age: float = 0.0) -> Awaitable[None]:
        """
        Re-read the limit from the user database (and rescan if an admin asked); a
        read started less than C{max_age} seconds ago will do.
        """

    def logout() -> None:
        """Called once when the session ends or logs out."""


@implementer(IAvatar)
@define(eq=False)
class Avatar:
    name: str
    home: Path
    storage: Any  # IStorage
    quota: QuotaAccount
    cwd: str = "/"
    _refresh: Callable[[Avatar, float], Awaitable[None]] | None = field(default=None,
                                                                         kw_only=True)
    _on_logout: Callable[[Avatar], None] | None = field(default=None, kw_only=True)
    logged_out: bool = field(default=False, init=False)

    def resolve(self, path: str) -> str:
        return resolve(self.cwd, path)

    async def refresh_quota(self, max_age: float = 0.0) -> None:
        if self._refresh is not None:
            await self._refresh(self, max_age)

    def logout(self) -> None:
        if self.logged_out:
            return
        self.logged_out = True
        if self._on_logout is not None:
            self._on_logout(self)
