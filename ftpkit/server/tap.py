"""
The twistd plugin's options and service: C{twistd -n ftpkit ...}.

test-case-name: tests.unit.test_tap

This and the command-line entry points are the only places that import the
global reactor.

Public API: none (the twistd plugin's options are documented in README.md and
conf/ftpkit.toml).

Startup problems (a bad config, a command clash, an enabled command that is not
installed) are raised as L{usage.UsageError} from C{postOptions}, so twistd
prints the message, without a traceback, and exits non-zero.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from twisted.application.service import IService, MultiService
from twisted.cred.portal import Portal
from twisted.internet.endpoints import serverFromString
from twisted.python import usage
from twisted.python.threadpool import ThreadPool

from ftpkit import __version__
from ftpkit.auth.checker import UserDBChecker
from ftpkit.auth.passwords import PasswordHasher
from ftpkit.auth.realm import Realm
from ftpkit.auth.userdb import UserDB, UserDBError
from ftpkit.commands.registry import CommandRegistry, RegistryError
from ftpkit.server.config import ConfigError, ServerConfig
from ftpkit.server.factory import ServerFactory
from ftpkit.server.service import ListenService, TermService, ThreadPoolService
from ftpkit.threads import Threads


class Options(usage.Options):
    synopsis = "[--config FILE] [--listen ENDPOINT]... [--root DIR] [--users DB] [--port-file F]"
    longdesc = "ftpkit: a multi-user file server. Flags override the config file."

    optParameters = [
        ["config", "c", None, "TOML config file (see conf/ftpkit.toml)"],
        ["root", "r", None, "directory holding the users' homes [var/homes]"],
        ["users", "u", None, "user database, made with ftpkit-admin [var/users.sqlite]"],
        ["port-file", None, None, "write the bound port numbers here once listening"],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["listen"] = []

    def opt_listen(self, endpoint: str) -> None:
        """Twisted server endpoint to listen on; repeatable [tcp:8021:interface=127.0.0.1]"""
        self["listen"].append(endpoint)

    def opt_version(self) -> None:
        print(f"ftpkit {__version__}")
        sys.exit(0)

    def postOptions(self) -> None:
        try:
            config = (ServerConfig.from_toml(Path(self["config"])) if self["config"]
                      else ServerConfig())
        except ConfigError as e:
            raise usage.UsageError(str(e)) from None
        overrides: dict[str, Any] = {}
        if self["listen"]:
            overrides["listen"] = tuple(self["listen"])
        for flag, key in (("root", "root"), ("users", "users"), ("port-file", "port_file")):
            if self[flag]:
                overrides[key] = Path(self[flag])
        self.config = config.replace(**overrides)
        self.registry = load_registry(self.config)


def load_registry(config: ServerConfig) -> CommandRegistry:
    """The commands C{config} asks for, found as plugins; or a UsageError saying why not."""
    try:
        return CommandRegistry.from_plugins(disabled=config.disabled_commands,
                                            enabled=config.enabled_commands,
                                            override=dict(config.command_overrides))
    except RegistryError as e:
        raise usage.UsageError(f"cannot start: {e}") from None


def makeService(options: Options) -> IService:
    from twisted.internet import reactor

    top = build_service(options.config, reactor, getattr(options, "registry", None))
    TermService(reactor).setServiceParent(top)
    return top


def build_service(config: ServerConfig, reactor: Any,
                  registry: CommandRegistry | None = None) -> MultiService:
    top = MultiService()
    pool = ThreadPool(minthreads=0, maxthreads=config.threads, name="ftpkit")
    pool_service = ThreadPoolService(pool)
    pool_service.setServiceParent(top)
    threads = Threads(reactor, pool)

    if registry is None:
        registry = load_registry(config)
    users = UserDB(config.users)
    try:
        users.create()
    except UserDBError as e:
        raise usage.UsageError(str(e)) from None
    config.root.mkdir(parents=True, exist_ok=True)
    realm = Realm(users, config.root.resolve(), threads,
                  partial_ttl=config.policy.partial_ttl)
    portal = Portal(realm, [UserDBChecker(users, PasswordHasher(), threads)])
    factory = ServerFactory(registry, portal, reactor, threads, config.policy, config.limits)

    endpoints = []
    for description in config.listen:
        try:
            endpoints.append((description, serverFromString(reactor, description)))
        except (ValueError, TypeError, KeyError) as e:
            raise usage.UsageError(f"bad --listen endpoint {description!r}: {e}") from None
    listen = ListenService(endpoints, factory, config.port_file, reactor.stop,
                           grace=config.limits.shutdown_grace, clock=reactor)
    listen.setServiceParent(top)
    pool_service.wait_for = listen.drained
    return top
