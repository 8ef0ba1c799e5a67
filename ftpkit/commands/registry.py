"""
The set of commands a server offers, built from plugins.

test-case-name: tests.unit.test_registry
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from types import ModuleType

from attrs import define, field
from twisted.logger import Logger
from twisted.plugin import getPlugins
from zope.interface.exceptions import Invalid
from zope.interface.verify import verifyObject

from ftpkit.commands.interfaces import ICommand
from ftpkit.protocol.messages import CommandInfo

_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}\Z")
_log = Logger()


class RegistryError(Exception):
    """The commands cannot be assembled (a clash, a missing enabled command)."""


def _origin(command: object) -> str:
    return type(command).__module__


@define
class CommandRegistry:
    """Commands by name. Built once at startup and handed to the factory."""

    _commands: dict[str, ICommand] = field(factory=dict)

    @classmethod
    def of(cls, commands: Iterable[ICommand]) -> CommandRegistry:
        registry = cls()
        for command in commands:
            registry.add(command)
        return registry

    @classmethod
    def from_plugins(
        cls,
        package: ModuleType | None = None,
        disabled: Iterable[str] = (),
    ) -> CommandRegistry:
        """
        Every L{ICommand} plugin in C{package} (default L{ftpkit.plugins}), less the
        C{disabled} names. A plugin module that fails to import is logged by
        twisted.plugin and skipped; an object that does not really provide
        L{ICommand} is logged and skipped.
        """
        if package is None:
            import ftpkit.plugins as package
        skip = set(disabled)
        found = []
        for command in getPlugins(ICommand, package):
            try:
                verifyObject(ICommand, command)
            except Invalid as e:
                _log.error("ignoring command plugin {origin}: {problem}",
                           origin=_origin(command), problem=str(e))
                continue
            if command.name not in skip:
                found.append(command)
        return cls.of(sorted(found, key=lambda c: c.name))

    def add(self, command: ICommand) -> None:
        name = command.name
        if not isinstance(name, str) or not _NAME.match(name):
            raise RegistryError(f"command name {name!r} from {_origin(command)} is not valid")
        existing = self._commands.get(name)
        if existing is not None:
            raise RegistryError(
                f"two commands are named {name!r}: one from {_origin(existing)}, "
                f"one from {_origin(command)}"
            )
        self._commands[name] = command

    def get(self, name: str) -> ICommand | None:
        return self._commands.get(name)

    def __iter__(self) -> Iterator[ICommand]:
        return iter(sorted(self._commands.values(), key=lambda c: c.name))

    def __len__(self) -> int:
        return len(self._commands)

    def infos(self) -> tuple[CommandInfo, ...]:
        return tuple(
            CommandInfo(c.name, c.description, bool(c.requires_login),
                        tuple(a.info() for a in c.arguments))
            for c in self
        )
