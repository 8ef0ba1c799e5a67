"""
The set of commands a server offers, built from plugins.

test-case-name: tests.unit.test_registry

Public API: L{CommandRegistry} as a command sees it through C{context.registry}
(iteration in name order, L{CommandRegistry.get}, C{len}). Building a registry
(L{CommandRegistry.from_plugins}, L{scan_plugins}) is the server's business.

Discovery is twisted.plugin's: every module in the C{ftpkit.plugins} package
(whose C{__path__} spans every C{ftpkit/plugins} directory on C{sys.path}) is
looked at, through the C{dropin.cache} pickle twisted.plugin keeps beside the
modules. Scanning at startup regenerates that cache; when its directory is
read-only, twisted.plugin logs one line and the modules are simply imported.
"""

from __future__ import annotations

import importlib
import os
import re
import stat
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from pathlib import Path
from types import ModuleType

from attrs import define, field, frozen
from twisted.logger import Logger, LogLevel
from twisted.plugin import getCache
from twisted.python.failure import Failure
from twisted.python.modules import getModule
from zope.interface.exceptions import Invalid
from zope.interface.verify import verifyObject

from ftpkit.commands.interfaces import ICommand
from ftpkit.protocol.messages import CommandInfo

_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}\Z")
_log = Logger()

SESSION_COMMANDS = frozenset({"login", "logout", "quit", "commands"})
"""Always offered when C{enabled} is given: without them no session can work."""

CACHE_NAME = "dropin.cache"
_FAILED = ("plugin module {module} failed to import, so its commands are not offered: "
           "{error}")
# What a plugin module may raise at import without stopping the server (as in
# twisted.plugin, which catches even these).
_IMPORT_ERRORS = (Exception, SystemExit)


class RegistryError(Exception):
    """The commands cannot be assembled (a clash, a missing enabled command)."""


def _origin(command: object) -> str:
    return type(command).__module__


def _describe(failure: Failure) -> str:
    return f"{type(failure.value).__name__}: {failure.getErrorMessage()}"


@frozen
class Found:
    """One command a plugin module provides, and the module it was found in."""

    module: str
    command: ICommand


@define
class PluginScan:
    """
    What a scan of a plugin package found.

    @ivar found: every valid command, in discovery order.
    @ivar failed: plugin modules that could not be imported, with why.
    @ivar rejected: objects that claim ICommand but are not usable, with why.
    """

    found: list[Found] = field(factory=list)
    failed: dict[str, Failure] = field(factory=dict)
    rejected: list[str] = field(factory=list)

    def problems(self) -> str:
        """A sentence or two on what failed to load, for startup errors ("" if nothing)."""
        notes = []
        if self.failed:
            notes.append("Plugin modules that failed to import: " + "; ".join(
                f"{module} ({_describe(failure)})"
                for module, failure in sorted(self.failed.items())))
        if self.rejected:
            notes.append("Plugin objects ignored as invalid: " + "; ".join(self.rejected))
        return ". ".join(notes)


def scan_plugins(package: ModuleType) -> PluginScan:
    """
    Find every L{ICommand} in the plugin modules of C{package}, as
    L{twisted.plugin.getPlugins} would (regenerating C{dropin.cache} where it
    can), but also knowing which module each command came from and which modules
    failed to import. Failures are logged here; nothing is raised.
    """
    _warn_if_writable_by_others(package)
    scan = PluginScan()
    seen: set[int] = set()
    # getPlugins() is getCache() plus this loop; it loses the module names.
    for dropin in getCache(package).values():
        for plugin in dropin.plugins:
            try:
                command = ICommand(plugin, None)
            except _IMPORT_ERRORS:  # the module failed to import now (the cache said it would)
                scan.failed.setdefault(dropin.moduleName, Failure())
                continue
            if command is None or id(command) in seen:  # the same object imported twice
                continue
            seen.add(id(command))
            where = f"{dropin.moduleName}.{plugin.name}"
            try:
                verifyObject(ICommand, command)
            except Invalid as e:
                scan.rejected.append(f"{where}: {e}")
                continue
            name = getattr(command, "name", None)
            if not isinstance(name, str) or not _NAME.match(name):
                scan.rejected.append(f"{where}: command name {name!r} is not valid "
                                     "(lower case, [a-z][a-z0-9_-]*, at most 32)")
                continue
            scan.found.append(Found(dropin.moduleName, command))
    for module, failure in sorted(scan.failed.items()):
        _log.failure(_FAILED, failure, LogLevel.error, module=module, error=_describe(failure))
    # A module that failed while the cache was being built is absent from it;
    # twisted.plugin logged its traceback, but not its name: find it by trying again.
    for module in getModule(package.__name__).iterModules():
        if module.name in scan.failed:
            continue
        try:
            importlib.import_module(module.name)
        except _IMPORT_ERRORS:
            failure = scan.failed[module.name] = Failure()
            _log.error(_FAILED + " (traceback above)", module=module.name,
                       error=_describe(failure))
    for problem in scan.rejected:
        _log.error("ignoring command plugin {problem}", problem=problem)
    return scan


def _warn_if_writable_by_others(package: ModuleType) -> None:
    """dropin.cache is a pickle: whoever can write it can run code in the server."""
    for directory in package.__path__:
        for path in (Path(directory), Path(directory) / CACHE_NAME):
            try:
                mode = os.stat(path).st_mode
            except OSError:
                continue
            if mode & stat.S_IWOTH:
                _log.warn(
                    "{path} is writable by every user: anyone could make this server run "
                    "their code (plugin modules and {cache} are loaded from it); make it "
                    "writable only by trusted users", path=str(path), cache=CACHE_NAME)


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
        enabled: Iterable[str] | None = None,
        override: Mapping[str, str] | None = None,
    ) -> CommandRegistry:
        """
        The L{ICommand} plugins in C{package} (default L{ftpkit.plugins}) that the
        configuration asks for.

        @param disabled: names not offered.
        @param enabled: if given, only these names (and L{SESSION_COMMANDS}) are
            offered, and each must be found.
        @param override: for a name more than one plugin module provides, the
            module whose command is offered.
        @raise RegistryError: an enabled command is missing, two modules provide a
            wanted name and C{override} does not choose, or C{override} names a
            module that does not provide the command. A plugin module that fails
            to import is only logged, unless one of these follows.
        """
        if package is None:
            import ftpkit.plugins

            package = ftpkit.plugins
        scan = scan_plugins(package)
        registry = cls._assemble(scan, set(disabled),
                                 None if enabled is None else set(enabled), override or {})
        for module, names in sorted(_by_module(registry, scan).items()):
            _log.info("commands from {module}: {names}", module=module,
                      names=", ".join(names))
        return registry

    @classmethod
    def _assemble(cls, scan: PluginScan, disabled: Collection[str],
                  enabled: Collection[str] | None, override: Mapping[str, str]
                  ) -> CommandRegistry:
        candidates: dict[str, list[Found]] = {}
        for found in scan.found:
            candidates.setdefault(found.command.name, []).append(found)

        def wanted(name: str) -> bool:
            return name not in disabled and (
                enabled is None or name in enabled or name in SESSION_COMMANDS)

        def with_problems(message: str) -> str:
            problems = scan.problems()
            return f"{message}. {problems}" if problems else message

        if enabled is not None:
            missing = sorted(n for n in enabled if n not in candidates and n not in disabled)
            if missing:
                raise RegistryError(with_problems(
                    f"commands.enabled names {_names(missing)}, which no installed plugin "
                    f"provides"))
        for name in sorted(disabled):
            if name not in candidates:
                _log.warn("commands.disabled names {name!r}, which no installed plugin "
                          "provides", name=name)
        registry = cls()
        for name, options in sorted(candidates.items()):
            if not wanted(name):
                continue
            registry._commands[name] = _choose(name, options, override, with_problems)
        for name in sorted(override):
            if name not in candidates and wanted(name):
                raise RegistryError(with_problems(
                    f"commands.override names {name!r}, which no installed plugin provides"))
        return registry

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


def _names(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)


def _choose(name: str, options: list[Found], override: Mapping[str, str],
            with_problems: Callable[[str], str]) -> ICommand:
    modules = [f.module for f in options]
    chosen = override.get(name)
    if chosen is not None:
        picked = [f for f in options if f.module == chosen]
        if len(picked) == 1:
            if len(options) > 1:
                _log.info("command {name!r}: offering the one from {chosen} (commands.override)"
                          "; not the one from {others}", name=name, chosen=chosen,
                          others=", ".join(m for m in modules if m != chosen))
            return picked[0].command
        if not picked:
            raise RegistryError(with_problems(
                f"commands.override chooses {chosen} for {name!r}, but {chosen} provides no "
                f"command {name!r}; it is provided by {', '.join(modules)}"))
    if len(options) == 1:
        return options[0].command
    if len(set(modules)) < len(modules):
        raise RegistryError(
            f"{len(options)} commands are named {name!r} and some come from the same "
            f"module ({', '.join(modules)}); override cannot choose between them: fix or "
            f"remove the plugin")
    listed = ", ".join(modules[:-1]) + f" and {modules[-1]}"
    count = "two" if len(options) == 2 else str(len(options))
    raise RegistryError(
        f"{count} plugins provide a command named {name!r}: {listed}. Uninstall one, or "
        f"choose one in the config: [commands] override = {{{name} = \"{modules[0]}\"}}")


def _by_module(registry: CommandRegistry, scan: PluginScan) -> dict[str, list[str]]:
    offered = {id(c) for c in registry}
    modules: dict[str, list[str]] = {}
    for found in scan.found:
        if id(found.command) in offered:
            modules.setdefault(found.module, []).append(found.command.name)
    return {module: sorted(names) for module, names in modules.items()}
