"""
Helpers shared by the file commands: path arguments and entry rendering.

Public API: L{path_arg}, L{entry_dict}, L{avatar_of}.
"""

from __future__ import annotations

from typing import Any

from ftpkit.auth.avatar import Avatar
from ftpkit.commands.args import Arg
from ftpkit.commands.interfaces import ICommandContext
from ftpkit.storage.interfaces import Entry


def path_arg(name: str = "path", required: bool = True, default: str | None = None,
             help: str = "a path: relative to the current directory, or absolute from "
                         "the home, where / is the home") -> Arg:
    return Arg(name, "str", required=required, default=default, help=help)


def entry_dict(entry: Entry) -> dict[str, Any]:
    return {"name": entry.name, "type": entry.type, "size": entry.size, "mtime": entry.mtime}


def avatar_of(context: ICommandContext) -> Avatar:
    """The logged-in user (commands with requires_login always have one)."""
    avatar: Avatar | None = context.avatar
    assert avatar is not None, "requires_login commands run only after login"
    return avatar
