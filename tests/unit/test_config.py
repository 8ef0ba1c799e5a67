"""ServerConfig: defaults, TOML files, validation messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftpkit.server.config import (
    DEFAULT_LISTEN,
    STDOUT,
    ConfigError,
    LoggingConfig,
    ServerConfig,
)
from ftpkit.server.policy import SessionPolicy


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "conf" / "ftpkit.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str) -> ServerConfig:
    return ServerConfig.from_toml(write(tmp_path, text))


def load_error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return str(caught.value)


def test_defaults() -> None:
    config = ServerConfig()
    assert config.listen == (DEFAULT_LISTEN,) == ("tcp:8021:interface=127.0.0.1",)
    assert config.root == Path("var/homes")
    assert config.users == Path("var/users.sqlite")
    assert config.port_file is None
    assert config.threads == 8
    assert config.disabled_commands == ()
    assert config.policy == SessionPolicy()


def test_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    assert load(tmp_path, "") == ServerConfig()


def test_every_key(tmp_path: Path) -> None:
    config = load(tmp_path, """
        [server]
        listen = ["tcp:9000", "ssl:9001:privateKey=k.pem"]
        root = "homes"
        users = "db/users.sqlite"
        port_file = "run/port"
        threads = 3
        password_threads = 1

        [limits]
        max_frame = 2097152
        preauth_max_frame = "16K"
        login_failure_delay = 0.25
        max_login_failures = 5

        [commands]
        enabled = ["ls", "du"]
        disabled = ["rm", "mkdir"]
        override = {du = "ftpkit.plugins.mine", ls = "ftpkit.plugins.builtins"}
    """)
    base = tmp_path / "conf"
    assert config == ServerConfig(
        listen=("tcp:9000", "ssl:9001:privateKey=k.pem"),
        root=base / "homes",
        users=base / "db" / "users.sqlite",
        port_file=base / "run" / "port",
        threads=3,
        password_threads=1,
        disabled_commands=("rm", "mkdir"),
        enabled_commands=("ls", "du"),
        command_overrides=(("du", "ftpkit.plugins.mine"), ("ls", "ftpkit.plugins.builtins")),
        policy=SessionPolicy(max_frame=2 * 1024 * 1024, preauth_max_frame=16 * 1024,
                             login_failure_delay=0.25, max_login_failures=5),
    )


def test_partial_file_keeps_other_defaults(tmp_path: Path) -> None:
    config = load(tmp_path, "[limits]\nmax_login_failures = 10\n")
    assert config.policy == SessionPolicy(max_login_failures=10)
    assert config.root == Path("var/homes") and config.threads == 8


def test_absolute_paths_are_kept(tmp_path: Path) -> None:
    root = tmp_path / "elsewhere"
    config = load(tmp_path, f'[server]\nroot = "{root}"\n')
    assert config.root == root


def test_relative_paths_follow_the_file_not_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = ServerConfig.from_toml(
        write(tmp_path, '[server]\nroot = "h"\nusers = "u.db"\n').resolve())
    assert config.root == tmp_path.resolve() / "conf" / "h"
    assert config.users == tmp_path.resolve() / "conf" / "u.db"


@pytest.mark.parametrize(("size", "expected"), [
    ('"1M"', 1024 * 1024), ('"64KiB"', 64 * 1024), ('"1024"', 1024), ("4096", 4096)])
def test_sizes(tmp_path: Path, size: str, expected: int) -> None:
    assert load(tmp_path, f"[limits]\nmax_frame = {size}\n").policy.max_frame == expected


def test_integer_delay_is_a_float(tmp_path: Path) -> None:
    delay = load(tmp_path, "[limits]\nlogin_failure_delay = 2\n").policy.login_failure_delay
    assert delay == 2.0 and type(delay) is float


def test_unknown_section_is_named(tmp_path: Path) -> None:
    message = load_error(tmp_path, "[bogus]\nx = 1\n")
    assert "unknown section [bogus]" in message
    assert "commands, limits, logging, server, transfers" in message
    assert str(tmp_path / "conf" / "ftpkit.toml") in message


@pytest.mark.parametrize(("text", "key"), [
    ("[limits]\nbogus = 1\n", "limits.bogus"),
    ("[server]\nport = 1\n", "server.port"),
    ("[commands]\nallowed = []\n", "commands.allowed"),
])
def test_unknown_key_is_named(tmp_path: Path, text: str, key: str) -> None:
    assert f"unknown key {key};" in load_error(tmp_path, text)


def test_section_must_be_a_table(tmp_path: Path) -> None:
    assert "[server] must be a table" in load_error(tmp_path, "server = 1\n")


OVERRIDE_WANT = 'a table of command = "plugin.module" (e.g. {du = "ftpkit.plugins.mine"})'


@pytest.mark.parametrize(("text", "key", "want"), [
    ('[server]\nlisten = "tcp:1"', "server.listen", "a non-empty list of strings"),
    ("[server]\nlisten = []", "server.listen", "a non-empty list of strings"),
    ('[server]\nlisten = [""]', "server.listen", "a non-empty list of strings"),
    ("[server]\nlisten = [1]", "server.listen", "a non-empty list of strings"),
    ("[server]\nroot = 1", "server.root", "a non-empty string"),
    ('[server]\nusers = ""', "server.users", "a non-empty string"),
    ("[server]\nport_file = false", "server.port_file", "a non-empty string"),
    ('[server]\nthreads = "8"', "server.threads", "an integer >= 1"),
    ("[server]\nthreads = 0", "server.threads", "an integer >= 1"),
    ("[server]\npassword_threads = 0", "server.password_threads", "an integer >= 1"),
    ('[transfers]\ntransfer_memory = "512K"', "transfers.transfer_memory", "an integer >= 1048576"),
    ("[server]\nthreads = true", "server.threads", "an integer >= 1"),
    ("[server]\nthreads = 2.0", "server.threads", "an integer >= 1"),
    ("[limits]\nmax_frame = 1023", "limits.max_frame", "an integer >= 1024"),
    ('[limits]\npreauth_max_frame = "0.5K"', "limits.preauth_max_frame", "an integer >= 1024"),
    ("[limits]\nmax_frame = 1.5", "limits.max_frame", "an integer >= 1024"),
    ('[limits]\nlogin_failure_delay = "1"', "limits.login_failure_delay", "a finite number >= 0"),
    ("[limits]\nlogin_failure_delay = -0.5", "limits.login_failure_delay", "a finite number >= 0"),
    ("[limits]\nlogin_failure_delay = true", "limits.login_failure_delay", "a finite number >= 0"),
    ("[limits]\nlogin_failure_delay = nan", "limits.login_failure_delay", "a finite number >= 0"),
    ("[limits]\nmax_login_failures = 0", "limits.max_login_failures", "an integer >= 1"),
    ('[commands]\ndisabled = "rm"', "commands.disabled", "a list of strings"),
    ("[commands]\ndisabled = [1]", "commands.disabled", "a list of strings"),
    ('[commands]\nenabled = "ls"', "commands.enabled", "a list of strings"),
    ('[commands]\nenabled = [""]', "commands.enabled", "a list of strings"),
    ('[commands]\noverride = ["du"]', "commands.override", OVERRIDE_WANT),
    ('[commands]\noverride = {du = 1}', "commands.override", OVERRIDE_WANT),
    ('[commands]\noverride = {du = ""}', "commands.override", OVERRIDE_WANT),
    ('[logging]\nformat = "xml"', "logging.format", "'text' or 'json'"),
    ("[logging]\nformat = 1", "logging.format", "'text' or 'json'"),
    ('[logging]\nlevel = "verbose"', "logging.level", "one of debug, info, warn, error, critical"),
    ('[logging]\nfile = ""', "logging.file", "a non-empty string"),
    ("[logging]\naudit = true", "logging.audit", "a non-empty string"),
])
def test_wrong_value_names_the_key(tmp_path: Path, text: str, key: str, want: str) -> None:
    assert f"{key} must be {want}, not " in load_error(tmp_path, text)


@pytest.mark.parametrize("size", ['"unlimited"', '"lots"', '"1.5"'])
def test_bad_size_string_names_the_key(tmp_path: Path, size: str) -> None:
    message = load_error(tmp_path, f"[limits]\nmax_frame = {size}\n")
    assert "limits.max_frame: invalid size" in message


def test_empty_disabled_list_is_fine(tmp_path: Path) -> None:
    assert load(tmp_path, "[commands]\ndisabled = []\n").disabled_commands == ()


def test_enabled_unset_means_every_command_and_empty_means_only_the_session_ones(
        tmp_path: Path) -> None:
    assert load(tmp_path, "[commands]\n").enabled_commands is None
    assert load(tmp_path, "[commands]\nenabled = []\n").enabled_commands == ()


def test_a_command_both_enabled_and_disabled_is_refused(tmp_path: Path) -> None:
    message = load_error(tmp_path, '[commands]\nenabled = ["ls", "rm"]\ndisabled = ["rm"]\n')
    assert "commands.enabled and commands.disabled both name 'rm'" in message


def test_the_shipped_config_file_loads_and_its_examples_are_valid(tmp_path: Path) -> None:
    shipped = Path(__file__).resolve().parents[2] / "conf" / "ftpkit.toml"
    assert ServerConfig.from_toml(shipped).enabled_commands is None
    # Every commented-out "key = value" line is a valid setting once uncommented.
    uncommented = "\n".join(
        line[2:] if line.startswith("# ") and " = " in line and not line[2:3].isupper()
        else line for line in shipped.read_text().splitlines())
    config = load(tmp_path, uncommented)
    assert config.enabled_commands == ("ls", "stat", "get", "put", "checksum")
    assert config.command_overrides == (("du", "ftpkit.plugins.ftpkit_checksum_commands"),)


@pytest.mark.parametrize("text", ["[server", "threads = ", "[server]\nthreads = 1\nthreads = 2"])
def test_invalid_toml(tmp_path: Path, text: str) -> None:
    assert "not valid TOML" in load_error(tmp_path, text)


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    path.write_bytes(b'[server]\nroot = "\xff"\n')
    with pytest.raises(ConfigError, match="ftpkit.toml: not UTF-8"):
        ServerConfig.from_toml(path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="cannot read config .*nope.toml"):
        ServerConfig.from_toml(path)


def test_directory_instead_of_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        ServerConfig.from_toml(tmp_path)


def test_replace() -> None:
    config = ServerConfig()
    changed = config.replace(threads=2, root=Path("/srv"))
    assert (changed.threads, changed.root) == (2, Path("/srv"))
    assert changed.listen == config.listen and changed.policy == config.policy
    assert config.threads == 8 and config.root == Path("var/homes")
    with pytest.raises(TypeError):
        config.replace(bogus=1)


def test_logging_defaults() -> None:
    assert ServerConfig().logging == LoggingConfig("text", None, "info", None)


def test_logging_keys(tmp_path: Path) -> None:
    config = load(tmp_path, """
        [logging]
        format = "json"
        file = "log/ftpkit.log"
        level = "warn"
        audit = "-"
    """)
    assert config.logging == LoggingConfig(format="json", file=tmp_path / "conf" / "log" /
                                           "ftpkit.log", level="warn", audit=STDOUT)


def test_unknown_logging_key_is_named(tmp_path: Path) -> None:
    assert "unknown key logging.path;" in load_error(tmp_path, '[logging]\npath = "x"\n')
