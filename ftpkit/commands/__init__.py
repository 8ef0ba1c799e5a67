"""
Commands: the ICommand interface, argument declarations, the registry, and the
built-in commands (one module each). Built-ins are published as plugins by
L{ftpkit.plugins.builtins}, exactly as a third-party command would be.

Public API for command authors: L{ICommand}, L{ICommandContext},
L{ISessionControl}, L{Command}, L{Arg}, L{CommandError}, L{ErrorCode}; see
docs/plugins.md. L{ftpkit.commands.registry.CommandRegistry} is what
C{context.registry} is.
"""

from ftpkit.commands.args import Arg
from ftpkit.commands.base import Command
from ftpkit.commands.interfaces import ICommand, ICommandContext, ISessionControl
from ftpkit.protocol.errors import CommandError, ErrorCode

__all__ = [
    "Arg",
    "Command",
    "CommandError",
    "ErrorCode",
    "ICommand",
    "ICommandContext",
    "ISessionControl",
]
