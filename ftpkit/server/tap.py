"""
The twistd plugin's options and service: C{twistd -n ftpkit ...}.

test-case-name: tests.unit.test_tap

This and the command-line entry points are the only places that import the
global reactor.

Public API: none (the twistd plugin's options are documented in README.md and
conf/ftpkit.toml).

Startup problems (a bad config, a command clash, an enabled command that is not
installed) are raised as L{usage.UsageError} from C{postOptions}, so twistd
prints the message, without a traceback, and exits non-zero. Those found while
the service is made (a listen endpoint's certificate, a log file, the user
database) end the process the same way, with a message and exit status 1.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from OpenSSL import SSL, crypto
from twisted.application.service import IService
from twisted.cred.portal import Portal
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IStreamServerEndpoint
from twisted.python import usage
from twisted.python.threadpool import ThreadPool

from ftpkit import __version__
from ftpkit.auth.checker import UserDBChecker
from ftpkit.auth.passwords import PasswordHasher
from ftpkit.auth.realm import Realm
from ftpkit.auth.userdb import UserDB, UserDBError
from ftpkit.auth.verifier import ProcessVerifier
from ftpkit.commands.registry import CommandRegistry, RegistryError
from ftpkit.memory import freeze_startup_objects, limit_malloc_arenas
from ftpkit.server.config import STDOUT, ConfigError, ServerConfig
from ftpkit.server.factory import ServerFactory
from ftpkit.server.logs import Logs, LogService, ServerService, log_destination
from ftpkit.server.service import ListenService, TermService, ThreadPoolService
from ftpkit.server.turns import Turns
from ftpkit.threads import Threads
from ftpkit.tls import openssl_reasons


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


WIRE_THREADS = 4  # a trip moves at most 4 MiB, or hands back within 5 ms on a stalled socket


def makeService(options: Options) -> IService:
    from twisted.internet import reactor

    limit_malloc_arenas()  # before any thread starts (ftpkit.memory)
    try:
        top = build_service(options.config, reactor, getattr(options, "registry", None),
                            open_logs(options.config, options.parent))
    except usage.UsageError as e:  # too late for twistd to print it as a usage error
        raise SystemExit(f"ftpkit: cannot start: {e}") from None
    TermService(reactor).setServiceParent(top)
    freeze_startup_objects()  # after everything is loaded (ftpkit.memory)
    return top


def open_logs(config: ServerConfig, twistd: Any) -> Logs:
    """The log files C{config} asks for, given twistd's own options; or a UsageError."""
    destination = log_destination(config.logging, twistd)
    if destination == STDOUT and twistd is not None and not twistd.get("nodaemon"):
        raise usage.UsageError("a daemon cannot log to standard output: set [logging] file "
                               "or twistd's --logfile, or run with -n")
    try:
        return Logs.open(config.logging, destination, sys.stdout)
    except OSError as e:
        raise usage.UsageError(f"cannot open log file {e.filename}: {e.strerror}") from None


def build_service(config: ServerConfig, reactor: Any, registry: CommandRegistry | None = None,
                  logs: Logs | None = None) -> ServerService:
    logs = logs or Logs()
    top = ServerService(logs.server)
    LogService(logs, reactor).setServiceParent(top)
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
                  partial_ttl=config.policy.partial_ttl, clock=reactor)
    # Password checks: threads of their own wait while worker processes, at a lower
    # priority, hash (ftpkit.auth.verifier). Added first, the workers stop last.
    verifier = ProcessVerifier(config.password_threads)
    verifier.setServiceParent(top)
    checks = ThreadPoolService(ThreadPool(minthreads=0, maxthreads=config.password_threads,
                                          name="ftpkit-passwords"))
    checks.setServiceParent(top)
    portal = Portal(realm, [UserDBChecker(users, PasswordHasher(),
                                          Threads(reactor, checks.pool),
                                          verify=verifier.verify)])
    # Direct sends and receives (ftpkit.protocol.rawsend, rawrecv), apart from the disk pool.
    wire = ThreadPoolService(ThreadPool(minthreads=0, maxthreads=WIRE_THREADS,
                                        name="ftpkit-wire"))
    wire.setServiceParent(top)
    factory = ServerFactory(registry, portal, reactor, threads, config.policy,
                            wire_threads=Threads(reactor, wire.pool), limits=config.limits,
                            password_turns=Turns(2 * config.password_threads))

    endpoints = listen_endpoints(config, reactor)
    listen = ListenService(endpoints, factory, config.port_file, reactor.stop,
                           grace=config.limits.shutdown_grace, clock=reactor)
    listen.setServiceParent(top)
    for service in (pool_service, checks, wire):  # they stop once the sessions are done
        service.wait_for = listen.drained
    return top


def listen_endpoints(config: ServerConfig, reactor: Any
                     ) -> list[tuple[str, IStreamServerEndpoint]]:
    """C{config.listen} as endpoints (an ssl: one reads its key and certificate here)."""
    endpoints = []
    for description in config.listen:
        try:
            endpoints.append((description, serverFromString(reactor, description)))
        except OSError as e:
            reason = f"cannot read {e.filename}: {e.strerror}"
        except (SSL.Error, crypto.Error) as e:
            reason = f"bad key or certificate: {openssl_reasons(e)}"
        except (ValueError, TypeError, KeyError) as e:
            reason = str(e)
        else:
            continue
        raise usage.UsageError(f"bad listen endpoint {description!r} (server.listen or "
                               f"--listen): {reason}")
    return endpoints


def check_config(path: Path) -> ServerConfig:
    """
    Everything a server started with C{--config path} checks before it listens:
    the file, the commands it enables, the listen endpoints. Raises UsageError.
    """
    from twisted.internet import reactor

    options = Options()
    options.parseOptions(["--config", str(path)])
    listen_endpoints(options.config, reactor)
    return options.config
