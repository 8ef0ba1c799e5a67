"""
commands: what this server offers.

Public API: none (a built-in command, documented in docs/protocol.md).
"""

from __future__ import annotations

from typing import Any

from ftpkit.commands.base import Command
from ftpkit.commands.interfaces import ICommandContext


class Commands(Command):
    name = "commands"
    description = "List the commands this server offers, with their descriptions"
    requires_login = False

    def run(self, context: ICommandContext, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "commands": [
                {"name": c.name, "description": c.description,
                 "requires_login": bool(c.requires_login)}
                for c in context.registry
            ]
        }
