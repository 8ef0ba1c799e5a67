"""
The twistd plugin's options: the command registry is built while options are
parsed, so every startup problem reaches the operator as a UsageError.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from twisted.internet.testing import MemoryReactor
from twisted.python import usage

import ftpkit.plugins
from ftpkit.commands.registry import CommandRegistry
from ftpkit.server.service import ListenService
from ftpkit.server.tap import Options, build_service, open_logs


@pytest.fixture
def extra_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Another ftpkit/plugins directory, as a second distribution would install."""
    directory = tmp_path / "site" / "ftpkit" / "plugins"
    directory.mkdir(parents=True)
    monkeypatch.setattr(ftpkit.plugins, "__path__", [*ftpkit.plugins.__path__, str(directory)])
    yield directory
    for name in [m for m in sys.modules if m.startswith("ftpkit.plugins.tap_test_")]:
        del sys.modules[name]


def add_module(directory: Path, name: str, source: str) -> str:
    (directory / f"{name}.py").write_text(textwrap.dedent(source))
    importlib.invalidate_caches()
    return f"ftpkit.plugins.{name}"


MY_LS = """
    from ftpkit.commands.ls import Ls

    class MyLs(Ls):
        description = "a better ls"

    my_ls = MyLs()
"""


def parse(tmp_path: Path, config: str | None = None) -> Options:
    args = ["--root", str(tmp_path / "homes"), "--users", str(tmp_path / "users.sqlite")]
    if config is not None:
        (tmp_path / "ftpkit.toml").write_text(config)
        args += ["--config", str(tmp_path / "ftpkit.toml")]
    options = Options()
    options.parseOptions(args)
    return options


def usage_error(tmp_path: Path, config: str | None = None) -> str:
    with pytest.raises(usage.UsageError) as caught:
        parse(tmp_path, config)
    return str(caught.value)


def test_options_build_the_registry(tmp_path: Path) -> None:
    options = parse(tmp_path, '[commands]\ndisabled = ["rm"]\n')
    assert options.registry.get("ls") is not None and options.registry.get("rm") is None


def test_the_service_serves_the_registry_the_options_built(tmp_path: Path) -> None:
    options = parse(tmp_path, '[commands]\nenabled = ["ls"]\n')
    service = build_service(options.config, MemoryReactor(), options.registry)
    (listener,) = [s for s in service if isinstance(s, ListenService)]
    assert listener.factory.registry is options.registry  # type: ignore[attr-defined]
    assert {c.name for c in options.registry} == {"ls", "login", "logout", "quit",
                                                  "commands"}


def test_a_missing_enabled_command_stops_startup(tmp_path: Path) -> None:
    message = usage_error(tmp_path, '[commands]\nenabled = ["ls", "checksum"]\n')
    assert message == ("cannot start: commands.enabled names 'checksum', which no installed "
                       "plugin provides")


def test_a_clash_stops_startup_naming_both_modules(tmp_path: Path,
                                                  extra_plugins: Path) -> None:
    mine = add_module(extra_plugins, "tap_test_clash", MY_LS)
    message = usage_error(tmp_path)
    assert "cannot start: two plugins provide a command named 'ls': " \
           f"ftpkit.plugins.builtins and {mine}" in message


def test_override_settles_a_clash(tmp_path: Path, extra_plugins: Path) -> None:
    mine = add_module(extra_plugins, "tap_test_override", MY_LS)
    options = parse(tmp_path, f'[commands]\noverride = {{ls = "{mine}"}}\n')
    ls = options.registry.get("ls")
    assert ls is not None and ls.description == "a better ls"
    options = parse(tmp_path, '[commands]\noverride = {ls = "ftpkit.plugins.builtins"}\n')
    ls = options.registry.get("ls")
    assert ls is not None and ls.description != "a better ls"


def test_a_broken_plugin_stops_startup_only_when_an_enabled_command_is_missing(
        tmp_path: Path, extra_plugins: Path) -> None:
    broken = add_module(extra_plugins, "tap_test_broken", "raise ImportError('no libfoo')\n")
    assert parse(tmp_path).registry.get("ls") is not None
    message = usage_error(tmp_path, '[commands]\nenabled = ["checksum"]\n')
    assert "commands.enabled names 'checksum'" in message
    assert f"{broken} (ImportError: no libfoo)" in message


def test_a_bad_config_is_a_usage_error(tmp_path: Path) -> None:
    assert "commands.enabled must be a list of strings" in usage_error(
        tmp_path, "[commands]\nenabled = 1\n")


def test_build_service_finds_the_commands_itself_when_not_given_them(tmp_path: Path) -> None:
    options = parse(tmp_path)
    service = build_service(options.config, MemoryReactor())
    (listener,) = [s for s in service if isinstance(s, ListenService)]
    registry = listener.factory.registry  # type: ignore[attr-defined]
    assert isinstance(registry, CommandRegistry) and registry.get("ls") is not None


def test_a_daemon_may_not_log_to_standard_output(tmp_path: Path) -> None:
    config = parse(tmp_path, '[logging]\nfile = "-"\n').config
    with pytest.raises(usage.UsageError, match="a daemon cannot log to standard output"):
        open_logs(config, {"nodaemon": False})
    assert open_logs(config, {"nodaemon": True}).server is not None


def test_a_log_file_that_cannot_be_opened_stops_startup(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    config = parse(tmp_path, '[logging]\naudit = "taken"\n').config
    with pytest.raises(usage.UsageError, match=r"cannot open log file .*taken: Is a directory"):
        open_logs(config, None)


def test_listening_happens_before_twistd_sheds_privileges(tmp_path: Path) -> None:
    reactor = MemoryReactor()
    service = build_service(parse(tmp_path).config, reactor)
    (listener,) = [s for s in service if isinstance(s, ListenService)]
    listener.privilegedStartService()  # twistd: then --uid/--gid, then startService
    assert len(reactor.tcpServers) == 1
    listener.startService()
    assert len(reactor.tcpServers) == 1  # not twice
