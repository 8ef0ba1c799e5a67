"""
mkdir, rmdir, rm and mv: organising files within the home.

Public API: none (built-in commands, documented in docs/protocol.md).
"""

from __future__ import annotations

from typing import Any

from ftpkit.commands.args import Arg
from ftpkit.commands.base import Command
from ftpkit.commands.files import avatar_of, path_arg
from ftpkit.commands.interfaces import ICommandContext


class Mkdir(Command):
    name = "mkdir"
    description = "Make a directory (parents=true: make missing parents too, like -p)"
    arguments = (path_arg(), Arg("parents", "bool", required=False, default=False,
                                 help="make missing parents; an existing directory is fine"))

    async def run(self, context: ICommandContext, args: dict[str, Any]) -> dict[str, Any]:
        avatar = avatar_of(context)
        target = avatar.resolve(args["path"])
        await avatar.storage.mkdir(target, args["parents"])
        return {"path": target}


class Rmdir(Command):
    name = "rmdir"
    description = "Remove an empty directory"
    arguments = (path_arg(),)

    async def run(self, context: ICommandContext, args: dict[str, Any]) -> dict[str, Any]:
        avatar = avatar_of(context)
        target = avatar.resolve(args["path"])
        await avatar.storage.rmdir(target)
        return {"path": target}


class Rm(Command):
    name = "rm"
    description = "Remove a file (a symbolic link is removed itself, never its target)"
    arguments = (path_arg(),)

    async def run(self, context: ICommandContext, args: dict[str, Any]) -> dict[str, Any]:
        avatar = avatar_of(context)
        target = avatar.resolve(args["path"])
        removed = await avatar.storage.remove(target)
        avatar.quota.charge(-removed.size, -1)  # remove() never takes a directory
        return {"path": target, "size": removed.size}


class Mv(Command):
    name = "mv"
    description = "Rename or move a file or directory within the home"
    arguments = (path_arg("src", help="what to move"),
                 path_arg("dst", help="where: a new name, or an existing directory to move "
                                      "into; an existing file there is replaced"))

    async def run(self, context: ICommandContext, args: dict[str, Any]) -> dict[str, Any]:
        avatar = avatar_of(context)
        src, dst = avatar.resolve(args["src"]), avatar.resolve(args["dst"])
        final, replaced = await avatar.storage.rename(src, dst)
        if replaced is not None and replaced.type != "dir":
            avatar.quota.charge(-replaced.size, -1)
        return {"src": src, "dst": final}
