"""
Test helpers: a server factory wired to in-memory pieces (a Clock, inline threads, a
cheap hasher, a temporary user database), and a fired-Deferred reader.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.cred.portal import Portal
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from ftpkit.auth.checker import UserDBChecker
from ftpkit.auth.passwords import PasswordHasher
from ftpkit.auth.realm import Realm
from ftpkit.auth.userdb import UserDB
from ftpkit.commands.registry import CommandRegistry
from ftpkit.server.factory import ServerFactory
from ftpkit.server.policy import SessionPolicy
from ftpkit.threads import InlineThreads

HASHER = PasswordHasher.cheap()


def make_users(tmp: Path, **users: str) -> UserDB:
    db = UserDB(tmp / "users.sqlite")
    db.create()
    for name, password in users.items():
        db.add(name, HASHER.hash(password), None, None)
    return db


def make_factory(tmp: Path, registry: CommandRegistry | None = None,
                 policy: SessionPolicy | None = None, clock: Clock | None = None,
                 users: UserDB | None = None) -> ServerFactory:
    threads = InlineThreads()
    users = users or make_users(tmp, alice="alice-pw", bob="bob-pw")
    root = tmp / "homes"
    root.mkdir(exist_ok=True)
    portal = Portal(Realm(users, root, threads), [UserDBChecker(users, HASHER, threads)])
    return ServerFactory(registry or CommandRegistry.from_plugins(), portal, clock or Clock(),
                         threads, policy or SessionPolicy())


def result_of(d: Deferred[Any]) -> Any:
    """The result of an already-fired Deferred; raises its failure's exception."""
    box: list[Any] = []
    d.addBoth(box.append)
    assert box, "the Deferred has not fired"
    if isinstance(box[0], Failure):
        box[0].raiseException()
    return box[0]
