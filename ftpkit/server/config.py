"""
Server configuration: defaults, a TOML file, then command-line flags.

test-case-name: tests.unit.test_config

Every key is validated; an unknown key or a bad value stops startup with a
message naming it. Relative paths in a file are taken from the file's directory.

Public API: none (the TOML file, conf/ftpkit.toml, is the interface).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
from attrs import field, frozen

from ftpkit.server.limits import Limits
from ftpkit.server.policy import SessionPolicy
from ftpkit.storage.checksums import ALGORITHMS
from ftpkit.units import parse_size

DEFAULT_LISTEN = "tcp:8021:interface=127.0.0.1"


class ConfigError(Exception):
    pass


@frozen
class ServerConfig:
    listen: tuple[str, ...] = (DEFAULT_LISTEN,)
    root: Path = Path("var/homes")
    users: Path = Path("var/users.sqlite")
    port_file: Path | None = None
    threads: int = 8
    password_threads: int = 2
    disabled_commands: tuple[str, ...] = ()
    # None: every command found; else only these (and the session commands).
    enabled_commands: tuple[str, ...] | None = None
    # (command name, plugin module) pairs: which module's command wins a name clash.
    command_overrides: tuple[tuple[str, str], ...] = ()
    policy: SessionPolicy = field(factory=SessionPolicy)
    logging: LoggingConfig = field(factory=lambda: LoggingConfig())
    limits: Limits = field(factory=Limits)

    @classmethod
    def from_toml(cls, path: Path) -> ServerConfig:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise ConfigError(f"cannot read config {path}: {e.strerror}") from None
        except UnicodeDecodeError as e:
            raise ConfigError(f"{path}: not UTF-8: {e.reason} at byte {e.start}") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: not valid TOML: {e}") from None
        try:
            return cls.from_mapping(data, base=path.parent)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], base: Path = Path(".")) -> ServerConfig:
        sections = _read_sections(data)
        server, limits, commands = sections["server"], sections["limits"], sections["commands"]
        transfers = sections["transfers"]
        changes: dict[str, Any] = {}
        policy: dict[str, Any] = {}
        for key, value in server.items():
            name = f"server.{key}"
            if key == "listen":
                changes["listen"] = tuple(_str_list(name, value, nonempty=True))
            elif key in ("root", "users", "port_file"):
                changes[key] = base / _string(name, value)
            elif key in ("threads", "password_threads"):
                changes[key] = _int(name, value, minimum=1)
        for key, value in limits.items():
            name = f"limits.{key}"
            if key in ("max_frame", "preauth_max_frame"):
                policy[key] = _size(name, value, minimum=1024)
            elif key == "login_failure_delay":
                policy[key] = _number(name, value, minimum=0)
            elif key == "max_login_failures":
                policy[key] = _int(name, value, minimum=1)
        if "disabled" in commands:
            changes["disabled_commands"] = tuple(_str_list("commands.disabled",
                                                           commands["disabled"]))
        if "enabled" in commands:
            changes["enabled_commands"] = tuple(_str_list("commands.enabled",
                                                          commands["enabled"]))
            both = sorted(set(changes["enabled_commands"])
                          & set(changes.get("disabled_commands", ())))
            if both:
                raise ConfigError(f"commands.enabled and commands.disabled both name "
                                  f"{', '.join(repr(n) for n in both)}")
        if "override" in commands:
            changes["command_overrides"] = _overrides("commands.override",
                                                      commands["override"])
        for key, value in transfers.items():
            name = f"transfers.{key}"
            if key == "checksum":
                policy[key] = _checked(name, value, lambda v: v in ALGORITHMS,
                                       f"one of {', '.join(ALGORITHMS)}")
            elif key == "partial_ttl":
                policy[key] = _number(name, value, minimum=0)
            elif key == "transfer_memory":
                policy[key] = _size(name, value, minimum=1024 * 1024)
            elif key == "user_rate":
                policy[key] = None if value == "unlimited" else _size(name, value, minimum=1)
        if "max_frame" in policy and "preauth_max_frame" not in policy:
            policy["preauth_max_frame"] = min(policy["max_frame"],
                                              SessionPolicy().preauth_max_frame)
        session = SessionPolicy(**policy)
        if session.preauth_max_frame > session.max_frame:
            raise ConfigError("limits.preauth_max_frame may not exceed limits.max_frame")
        return cls(**changes, policy=session, logging=_logging(sections["logging"], base),
                   limits=_server_limits(limits))

    def replace(self, **changes: Any) -> ServerConfig:
        return attrs.evolve(self, **changes)


# -- [limits]: connection, user, ban and shutdown limits (ftpkit.server.limits) -----------

_LIMIT_INTS = {"max_connections", "max_connections_per_ip", "max_sessions_per_user",
               "max_transfers_per_user", "ban_failures"}
# 0 turns a timeout off; a ban_duration of 0 turns bans off.
_LIMIT_SECONDS = {"login_timeout", "idle_timeout", "ban_window", "ban_duration",
                  "shutdown_grace"}


def _server_limits(table: Mapping[str, Any]) -> Limits:
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key in _LIMIT_INTS:
            values[key] = _int(f"limits.{key}", value, minimum=1)
        elif key in _LIMIT_SECONDS:
            values[key] = _number(f"limits.{key}", value, minimum=0)
    return Limits(**values)


# -- the sections and their keys ------------------------------------------------------

_KEYS: dict[str, set[str]] = {
    "server": {"listen", "root", "users", "port_file", "threads", "password_threads"},
    "limits": {"max_frame", "preauth_max_frame", "login_failure_delay", "max_login_failures",
               *_LIMIT_INTS, *_LIMIT_SECONDS},
    "commands": {"enabled", "disabled", "override"},
    "transfers": {"checksum", "partial_ttl", "user_rate", "transfer_memory"},
    "logging": {"format", "file", "level", "audit"},
}


def _read_sections(data: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    sections: dict[str, dict[str, Any]] = {name: {} for name in _KEYS}
    for name, table in data.items():
        if name not in _KEYS:
            raise ConfigError(f"unknown section [{name}]; known: {', '.join(sorted(_KEYS))}")
        if not isinstance(table, dict):
            raise ConfigError(f"[{name}] must be a table")
        for key in table:
            if key not in _KEYS[name]:
                raise ConfigError(f"unknown key {name}.{key}; known in [{name}]: "
                                  f"{', '.join(sorted(_KEYS[name]))}")
        sections[name] = table
    return sections


def _checked(name: str, value: Any, ok: Callable[[Any], bool], want: str) -> Any:
    if not ok(value):
        raise ConfigError(f"{name} must be {want}, not {value!r}")
    return value


def _string(name: str, value: Any) -> str:
    return str(_checked(name, value, lambda v: isinstance(v, str) and v != "",
                        "a non-empty string"))


def _str_list(name: str, value: Any, nonempty: bool = False) -> list[str]:
    return list(_checked(
        name, value,
        lambda v: isinstance(v, list) and all(isinstance(s, str) and s for s in v)
        and (bool(v) or not nonempty),
        "a non-empty list of strings" if nonempty else "a list of strings"))


def _overrides(name: str, value: Any) -> tuple[tuple[str, str], ...]:
    table = _checked(
        name, value,
        lambda v: isinstance(v, dict) and all(isinstance(m, str) and m for m in v.values()),
        'a table of command = "plugin.module" (e.g. {du = "ftpkit.plugins.mine"})')
    return tuple(sorted(table.items()))


def _int(name: str, value: Any, minimum: int) -> int:
    return int(_checked(name, value,
                        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= minimum,
                        f"an integer >= {minimum}"))


def _number(name: str, value: Any, minimum: float) -> float:
    return float(_checked(
        name, value,
        lambda v: isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        and v >= minimum,
        f"a finite number >= {minimum}"))


def _size(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, str):
        try:
            size = parse_size(value, allow_unlimited=False)
        except ValueError as e:
            raise ConfigError(f"{name}: {e}") from None
        assert size is not None
        value = size
    return _int(name, value, minimum)


# -- [logging] ----------------------------------------------------------------

STDOUT = Path("-")
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warn", "error", "critical")


@frozen
class LoggingConfig:
    """
    @ivar format: "text" (one human-readable line per event) or "json" (one object a line).
    @ivar file: where the server log goes: a path, L{STDOUT}, or None for twistd's
        choice (its --logfile; standard output under -n, else twistd.log).
    @ivar level: the least severe level written to the server log.
    @ivar audit: where audit records go, as JSON lines: a path, L{STDOUT}, or None to
        write them to the server log instead.
    """

    format: str = "text"
    file: Path | None = None
    level: str = "info"
    audit: Path | None = None


def _logging(section: Mapping[str, Any], base: Path) -> LoggingConfig:
    changes: dict[str, Any] = {}
    for key, value in section.items():
        name = f"logging.{key}"
        if key == "format":
            changes[key] = _checked(name, value, lambda v: v in LOG_FORMATS,
                                    " or ".join(repr(f) for f in LOG_FORMATS))
        elif key == "level":
            changes[key] = _checked(name, value, lambda v: v in LOG_LEVELS,
                                    f"one of {', '.join(LOG_LEVELS)}")
        elif key in ("file", "audit"):
            path = _string(name, value)
            changes[key] = STDOUT if path == "-" else base / path
    return LoggingConfig(**changes)
