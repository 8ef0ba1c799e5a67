"""
Commands: the ICommand interface, argument declarations, the registry, and the
built-in commands (one module each). Built-ins are published as plugins by
L{ftpkit.plugins.builtins}, exactly as a third-party command would be.

Public API for command authors: L{ICommand}, L{ICommandContext},
L{ISessionControl}, L{Arg}, L{CommandError}, L{ErrorCode}.
"""

from ftpkit.commands.args import Arg
from ftpkit.commands.interfaces import ICommand, ICommandContext, ISessionControl
from ftpkit.protocol.errors import CommandError, ErrorCode

__all__ = ["Arg", "CommandError", "ErrorCode", "ICommand", "ICommandContext", "ISessionControl"]
