"""
A convenience base for commands: declare the fields, implement run().

Public API: L{Command}.
"""

from __future__ import annotations

from typing import Any, ClassVar

from twisted.plugin import IPlugin
from zope.interface import implementer

from ftpkit.commands.args import Arg
from ftpkit.commands.interfaces import ICommand, ICommandContext


@implementer(IPlugin, ICommand)
class Command:
    """Subclass, set the class attributes, implement L{run}, and instantiate once."""

    name: ClassVar[str]
    description: ClassVar[str]
    requires_login: ClassVar[bool] = True
    arguments: ClassVar[tuple[Arg, ...]] = ()
    # True for commands that move file data: the server then counts them towards
    # [limits] max_transfers_per_user and lets them finish at shutdown.
    transfer: ClassVar[bool] = False

    def run(self, context: ICommandContext, args: dict[str, Any]) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<command {self.name!r} from {type(self).__module__}>"
