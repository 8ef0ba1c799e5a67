"""
The avatar: what a logged-in session acts as.

test-case-name: tests.unit.test_realm

Public API: L{IAvatar} and its attributes. Commands reach the user's files and
quota only through the avatar.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from attrs import define, field
from zope.interface import Attribute, Interface, implementer


class IAvatar(Interface):
    name = Attribute("str: the user name")
    home = Attribute("pathlib.Path: the real path of the user's home directory")
    quota = Attribute("int or None: the byte limit (None is unlimited)")

    def logout() -> None:
        """Called once when the session ends or logs out."""


@implementer(IAvatar)
@define
class Avatar:
    name: str
    home: Path
    quota: int | None
    _on_logout: Callable[[Avatar], None] | None = field(default=None, kw_only=True)
    logged_out: bool = field(default=False, init=False)

    def logout(self) -> None:
        if self.logged_out:
            return
        self.logged_out = True
        if self._on_logout is not None:
            self._on_logout(self)
