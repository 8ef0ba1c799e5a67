"""
login, logout and quit: the session's own commands.

Public API: none (built-in commands, documented in docs/protocol.md).
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred

from ftpkit.auth.avatar import Avatar
from ftpkit.commands.args import Arg
from ftpkit.commands.base import Command
from ftpkit.commands.interfaces import ICommandContext


def _describe(avatar: Avatar) -> dict[str, Any]:
    return {"user": avatar.name, "cwd": avatar.cwd, **avatar.quota.report()}


class Login(Command):
    name = "login"
    description = "Log in with a user name and password"
    requires_login = False
    checks_password = True  # waits for a turn (ftpkit.server.turns)
    arguments = (
        Arg("user", help="the user name"),
        Arg("password", help="the password"),
    )

    def run(self, context: ICommandContext, args: dict[str, Any]) -> Deferred[dict[str, Any]]:
        d: Deferred[Avatar] = context.session.login(args["user"], args["password"])
        return d.addCallback(_describe)


class Logout(Command):
    name = "logout"
    description = "Log out; the connection stays open for another login"
    requires_login = True

    def run(self, context: ICommandContext, args: dict[str, Any]) -> dict[str, Any]:
        context.session.logout()
        return {}


class Quit(Command):
    name = "quit"
    description = "Log out and close the connection"
    requires_login = False

    def run(self, context: ICommandContext, args: dict[str, Any]) -> dict[str, Any]:
        context.session.logout()
        context.session.closeAfterReply()
        return {}
