"""
quota: what you store, and what you may.

Public API: none (a built-in command, documented in docs/protocol.md).
"""

from __future__ import annotations

from typing import Any

from ftpkit.commands.base import Command
from ftpkit.commands.files import avatar_of
from ftpkit.commands.interfaces import ICommandContext


class Quota(Command):
    name = "quota"
    description = "Show bytes used, the limit, bytes free and the file count"

    async def run(self, context: ICommandContext, args: dict[str, Any]) -> dict[str, Any]:
        avatar = avatar_of(context)
        await avatar.refresh_quota()
        return avatar.quota.report()
