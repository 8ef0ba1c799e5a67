"""
pwd and cd: the session's current directory.

Public API: none (built-in commands, documented in docs/protocol.md).
"""

from __future__ import annotations

from typing import Any

from ftpkit.commands.base import Command
from ftpkit.commands.files import avatar_of, path_arg
from ftpkit.commands.interfaces import ICommandContext
from ftpkit.protocol.errors import CommandError, ErrorCode


class Pwd(Command):
    name = "pwd"
    description = "Print the current directory (/ is your home)"

    def run(self, context: ICommandContext, args: dict[str, Any]) -> dict[str, Any]:
        return {"path": avatar_of(context).cwd}


class Cd(Command):
    name = "cd"
    description = "Change the current directory"
    arguments = (path_arg(required=False, default="/"),)

    async def run(self, context: ICommandContext, args: dict[str, Any]) -> dict[str, Any]:
        avatar = avatar_of(context)
        target = avatar.resolve(args["path"])
        entry = await avatar.storage.stat(target)
        if entry.type == "symlink":
            raise CommandError(ErrorCode.OUTSIDE_HOME,
                               f"{target} is a symbolic link; ftpkit does not follow links")
        if entry.type != "dir":
            raise CommandError(ErrorCode.NOT_A_DIRECTORY, f"{target} is not a directory")
        avatar.cwd = target
        return {"path": target}
