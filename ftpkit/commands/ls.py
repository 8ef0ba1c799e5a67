"""
ls and stat: looking at entries.

Public API: none (built-in commands, documented in docs/protocol.md; a good
example to read before writing a command).
"""

from __future__ import annotations

import json
from typing import Any

from ftpkit.commands.args import Arg
from ftpkit.commands.base import Command
from ftpkit.commands.files import avatar_of, entry_dict, path_arg
from ftpkit.commands.interfaces import ICommandContext

PAGE_DEFAULT = 1000
PAGE_MAX = 10_000
# A page's entries stop before this many bytes of JSON, so no answer comes near
# the 1 MiB frame limit, whatever the names.
PAGE_BYTES = 768 * 1024


def _page_limit(n: int) -> str | None:
    return None if 1 <= n <= PAGE_MAX else f"must be from 1 to {PAGE_MAX}"


class Ls(Command):
    name = "ls"
    description = "List a directory, a page at a time (name, type, size, mtime)"
    arguments = (
        path_arg(required=False, default="."),
        Arg("after", "str", required=False, help="start after this name (the last one of "
                                                 "the previous page)"),
        Arg("limit", "int", required=False, default=PAGE_DEFAULT, check=_page_limit,
            help=f"at most this many entries (1-{PAGE_MAX})"),
    )

    async def run(self, context: ICommandContext, args: dict[str, Any]) -> dict[str, Any]:
        avatar = avatar_of(context)
        target = avatar.resolve(args["path"])
        entry = await avatar.storage.stat(target)
        if entry.type != "dir":
            return {"path": target, "entries": [entry_dict(entry)], "more": False}
        entries, more = await avatar.storage.list(target, args["after"], args["limit"])
        page, size = [], 0
        for e in entries:
            item = entry_dict(e)
            size += len(json.dumps(item, ensure_ascii=False).encode())
            if size > PAGE_BYTES:
                more = True
                break
            page.append(item)
        return {"path": target, "entries": page, "more": more}


class Stat(Command):
    name = "stat"
    description = "Show one entry: type, size and mtime (links are not followed)"
    arguments = (path_arg(),)

    async def run(self, context: ICommandContext, args: dict[str, Any]) -> dict[str, Any]:
        avatar = avatar_of(context)
        target = avatar.resolve(args["path"])
        entry = await avatar.storage.stat(target)
        return {"path": target, **entry_dict(entry)}
