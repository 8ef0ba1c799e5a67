"""
CommandRegistry.from_plugins: discovery through twisted.plugin, and what the
configuration (enabled, disabled, override) makes of what it finds.

Each test gets its own plugin package on sys.path, so twisted.plugin's dropin.cache
and import errors are the real thing.
"""

from __future__ import annotations

import importlib
import itertools
import os
import pickle
import stat
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from twisted.logger import formatEvent, globalLogPublisher

from ftpkit.commands.registry import (
    SESSION_COMMANDS,
    CommandRegistry,
    RegistryError,
    scan_plugins,
)
from ftpkit.plugins import builtins

_packages = itertools.count()

COMMAND = '''
from ftpkit.commands import Command


class Made(Command):
    name = {name!r}
    description = "a test command"
    requires_login = False

    def run(self, context, args):
        return {{"module": __name__}}


{attr} = Made()
'''


class PluginPackage:
    """A fresh plugin package (like ftpkit.plugins) in a temporary directory."""

    def __init__(self, root: Path) -> None:
        self.name = f"ftpkit_test_plugins_{os.getpid()}_{next(_packages)}"
        self.path = root / self.name
        self.path.mkdir(parents=True)
        (self.path / "__init__.py").write_text("")

    def module(self, module: str, source: str) -> str:
        """Write plugin module C{module}; its full name."""
        (self.path / f"{module}.py").write_text(textwrap.dedent(source))
        importlib.invalidate_caches()
        sys.modules.pop(f"{self.name}.{module}", None)
        return f"{self.name}.{module}"

    def command(self, module: str, name: str, attr: str | None = None) -> str:
        return self.module(module, COMMAND.format(name=name, attr=attr or name.replace("-", "_")))

    def package(self) -> ModuleType:
        return importlib.import_module(self.name)

    def registry(self, **kw: Any) -> CommandRegistry:
        return CommandRegistry.from_plugins(self.package(), **kw)


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginPackage]:
    monkeypatch.syspath_prepend(str(tmp_path / "path"))
    package = PluginPackage(tmp_path / "path")
    yield package
    for name in [m for m in sys.modules if m == package.name or
                 m.startswith(package.name + ".")]:
        del sys.modules[name]


class Logged:
    """The events logged while a test runs; C{"text" in logged} searches their text."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __contains__(self, text: object) -> bool:
        return any(isinstance(text, str) and text in formatEvent(e) for e in self.events)


@pytest.fixture
def log() -> Iterator[Logged]:
    logged = Logged()
    globalLogPublisher.addObserver(logged.events.append)
    yield logged
    globalLogPublisher.removeObserver(logged.events.append)


def names(registry: CommandRegistry) -> list[str]:
    return [c.name for c in registry]


def module_of(registry: CommandRegistry, name: str) -> str:
    command = registry.get(name)
    assert command is not None
    result: str = command.run(None, {})["module"]
    return result


# -- discovery ---------------------------------------------------------------


def test_the_builtins_are_found_in_ftpkit_plugins() -> None:
    registry = CommandRegistry.from_plugins()
    builtin = {c.name for c in vars(builtins).values() if hasattr(c, "requires_login")
               and not isinstance(c, type)}
    assert builtin <= set(names(registry))
    assert SESSION_COMMANDS <= builtin
    assert names(registry) == sorted(names(registry))


def test_commands_are_found_in_every_module(plugins: PluginPackage) -> None:
    one = plugins.command("one", "alpha")
    two = plugins.command("two", "beta")
    registry = plugins.registry()
    assert names(registry) == ["alpha", "beta"]
    assert module_of(registry, "alpha") == one and module_of(registry, "beta") == two


def test_the_scan_says_which_module_each_command_came_from(plugins: PluginPackage) -> None:
    module = plugins.command("one", "alpha")
    (found,) = scan_plugins(plugins.package()).found
    assert (found.module, found.command.name) == (module, "alpha")


def test_the_dropin_cache_is_regenerated_at_each_scan(plugins: PluginPackage) -> None:
    plugins.command("one", "alpha")
    plugins.registry()
    cache = plugins.path / "dropin.cache"
    assert set(pickle.loads(cache.read_bytes())) == {"one"}
    plugins.command("two", "beta")
    os.utime(cache, (1, 1))  # older than the new module, as after an install
    assert names(plugins.registry()) == ["alpha", "beta"]
    assert set(pickle.loads(cache.read_bytes())) == {"one", "two"}


def test_commands_are_found_when_the_cache_cannot_be_written(
        plugins: PluginPackage, log: Logged) -> None:
    plugins.command("one", "alpha")
    (plugins.path / "dropin.cache").mkdir()  # unwritable, even for root
    assert names(plugins.registry()) == ["alpha"]
    assert "Unable to write to plugin cache" in log


def test_a_module_that_fails_to_import_is_logged_and_skipped(
        plugins: PluginPackage, log: Logged) -> None:
    plugins.command("good", "alpha")
    broken = plugins.module("broken", "raise ImportError('needs libfoo')\n")
    registry = plugins.registry()
    assert names(registry) == ["alpha"]
    assert f"plugin module {broken} failed to import, so its commands are not offered: " \
           "ImportError: needs libfoo" in log


def test_a_module_that_fails_after_it_was_cached_is_logged_and_skipped(
        plugins: PluginPackage, log: Logged) -> None:
    module = plugins.command("flaky", "alpha")
    plugins.command("good", "beta")
    plugins.registry()  # cached with its command
    plugins.module("flaky", "raise RuntimeError('config missing')\n")
    os.utime(plugins.path / "flaky.py", (1, 1))  # the cache looks current: trusted
    scan = scan_plugins(plugins.package())
    assert [f.command.name for f in scan.found] == ["beta"]
    assert list(scan.failed) == [module]
    assert "RuntimeError: config missing" in log


def test_an_invalid_plugin_object_is_logged_and_skipped(plugins: PluginPackage,
                                                         log: Logged) -> None:
    plugins.command("good", "alpha")
    plugins.module("bad", """
        from twisted.plugin import IPlugin
        from zope.interface import implementer

        from ftpkit.commands import Command, ICommand


        @implementer(IPlugin, ICommand)
        class NoRun:
            name = "norun"
            description = "lacks run()"
            requires_login = False
            arguments = ()


        class Shouting(Command):
            name = "SHOUT"
            description = "not a valid name"


        norun = NoRun()
        shouting = Shouting()
    """)
    assert names(plugins.registry()) == ["alpha"]
    assert "ignoring command plugin" in log and "norun" in log
    assert "command name 'SHOUT' is not valid" in log


def test_one_object_exported_by_two_modules_is_one_command(plugins: PluginPackage) -> None:
    first = plugins.command("first", "alpha")
    plugins.module("second", f"from {first} import alpha as reexported\n")
    registry = plugins.registry()
    assert names(registry) == ["alpha"] and module_of(registry, "alpha") == first


def test_a_world_writable_plugin_directory_is_warned_about(plugins: PluginPackage,
                                                          log: Logged) -> None:
    plugins.command("one", "alpha")
    mode = plugins.path.stat().st_mode
    plugins.path.chmod(mode | stat.S_IWOTH)
    try:
        plugins.registry()
    finally:
        plugins.path.chmod(mode)
    assert f"{plugins.path} is writable by every user" in log


# -- clashes and override ------------------------------------------------------


def test_a_name_clash_refuses_naming_both_modules(plugins: PluginPackage) -> None:
    first = plugins.command("first", "du")
    second = plugins.command("second", "du")
    with pytest.raises(RegistryError) as caught:
        plugins.registry()
    message = str(caught.value)
    assert f"two plugins provide a command named 'du': {first} and {second}" in message
    assert f'override = {{du = "{first}"}}' in message


def test_override_chooses_the_winner_of_a_clash(plugins: PluginPackage,
                                                log: Logged) -> None:
    first = plugins.command("first", "du")
    second = plugins.command("second", "du")
    plugins.command("third", "other")
    registry = plugins.registry(override={"du": second})
    assert names(registry) == ["du", "other"] and module_of(registry, "du") == second
    assert f"offering the one from {second}" in log and first in log


def test_override_must_name_a_module_that_provides_the_command(plugins: PluginPackage) -> None:
    first = plugins.command("first", "du")
    plugins.command("second", "du")
    with pytest.raises(RegistryError, match=f"chooses {plugins.name}.nope for 'du', but "
                                            f"{plugins.name}.nope provides no command 'du'; "
                                            f"it is provided by {first}"):
        plugins.registry(override={"du": f"{plugins.name}.nope"})


def test_override_of_a_command_nobody_provides_is_refused(plugins: PluginPackage) -> None:
    plugins.command("first", "du")
    with pytest.raises(RegistryError, match="commands.override names 'dud', which no"):
        plugins.registry(override={"dud": "x.y"})


def test_override_without_a_clash_must_still_be_right(plugins: PluginPackage) -> None:
    first = plugins.command("first", "du")
    assert module_of(plugins.registry(override={"du": first}), "du") == first
    with pytest.raises(RegistryError, match="provides no command 'du'"):
        plugins.registry(override={"du": "elsewhere"})


def test_two_same_named_commands_in_one_module_cannot_be_overridden(
        plugins: PluginPackage) -> None:
    module = plugins.module("double", COMMAND.format(name="du", attr="du") + "du2 = Made()\n")
    with pytest.raises(RegistryError, match="some come from the same module"):
        plugins.registry(override={"du": module})


def test_a_clash_over_a_command_not_offered_does_not_matter(plugins: PluginPackage) -> None:
    plugins.command("first", "du")
    plugins.command("second", "du")
    plugins.command("third", "ok")
    assert names(plugins.registry(disabled=["du"])) == ["ok"]
    assert names(plugins.registry(enabled=["ok"])) == ["ok"]
    assert names(plugins.registry(enabled=["ok"], override={"du": "anything"})) == ["ok"]


# -- enabled and disabled ------------------------------------------------------


def test_disabled_commands_are_not_offered(plugins: PluginPackage, log: Logged) -> None:
    plugins.command("one", "alpha")
    plugins.command("two", "beta")
    assert names(plugins.registry(disabled=["beta"])) == ["alpha"]
    assert "commands.disabled names" not in log


def test_disabling_a_command_that_is_not_installed_is_warned_about(
        plugins: PluginPackage, log: Logged) -> None:
    plugins.command("one", "alpha")
    assert names(plugins.registry(disabled=["rn"])) == ["alpha"]
    assert "commands.disabled names 'rn', which no installed plugin provides" in log


def test_enabled_offers_only_those_and_the_session_commands() -> None:
    registry = CommandRegistry.from_plugins(enabled=["ls", "stat"])
    assert set(names(registry)) == {"ls", "stat"} | SESSION_COMMANDS
    assert set(names(CommandRegistry.from_plugins(enabled=[]))) == SESSION_COMMANDS


def test_enabled_names_must_all_be_found(plugins: PluginPackage) -> None:
    plugins.command("one", "alpha")
    with pytest.raises(RegistryError) as caught:
        plugins.registry(enabled=["alpha", "zeta", "gamma"])
    assert str(caught.value) == ("commands.enabled names 'gamma', 'zeta', which no installed "
                                 "plugin provides")


def test_a_missing_enabled_command_names_the_modules_that_failed(
        plugins: PluginPackage) -> None:
    plugins.command("one", "alpha")
    broken = plugins.module("broken", "import a_module_nobody_has\n")
    assert names(plugins.registry(enabled=["alpha"])) == ["alpha"]  # not needed: fine
    with pytest.raises(RegistryError) as caught:
        plugins.registry(enabled=["alpha", "zeta"])
    message = str(caught.value)
    assert "commands.enabled names 'zeta'" in message
    assert (f"Plugin modules that failed to import: {broken} (ModuleNotFoundError: No module "
            "named 'a_module_nobody_has')") in message


def test_a_missing_enabled_command_names_invalid_plugins(plugins: PluginPackage) -> None:
    plugins.module("bad", """
        from ftpkit.commands import Command

        class Bad(Command):
            name = "Zeta"
            description = "upper case"

        zeta = Bad()
    """)
    with pytest.raises(RegistryError, match="Plugin objects ignored as invalid: .*'Zeta'"):
        plugins.registry(enabled=["zeta"])


# -- the registry itself -------------------------------------------------------


def test_add_refuses_a_clash_and_a_bad_name() -> None:
    registry = CommandRegistry.of([builtins.ls])
    with pytest.raises(RegistryError, match="two commands are named 'ls'"):
        registry.add(builtins.ls)
    bad = type(builtins.ls)()
    bad.name = "no spaces"  # type: ignore[misc]
    with pytest.raises(RegistryError, match="is not valid"):
        registry.add(bad)


def test_infos_describe_every_command_in_name_order() -> None:
    registry = CommandRegistry.of([builtins.quit, builtins.login])
    infos = registry.infos()
    assert [i.name for i in infos] == ["login", "quit"]
    assert [a.name for a in infos[0].args] == ["user", "password"]
    assert len(registry) == 2 and registry.get("nope") is None
