"""
The ftpkit command: one session as one user, one command.

test-case-name: tests.unit.test_cli

    ftpkit [--host H] [--port P] [--user U] [--tls [--cafile FILE]] COMMAND ...

The password comes from $FTPKIT_PASSWORD, or else from a prompt. With --tls the
server's certificate is verified (the system's CAs, or --cafile's); one that
does not verify is refused, never skipped.

Public API: none (the ftpkit command's behaviour is documented in README.md).
"""

from __future__ import annotations

import argparse
import getpass
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from attrs import frozen
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.error import ConnectError, DNSLookupError

from ftpkit import __version__
from ftpkit.cli import actions, exits, shell
from ftpkit.cli.exits import UsageError
from ftpkit.client.api import HELLO_TIMEOUT, Client, NoHello
from ftpkit.client.protocol import ConnectionClosed, RemoteError
from ftpkit.client.tls import client_tls
from ftpkit.memory import keep_freed_heap


@frozen
class Invocation:
    """What a CLI run may touch: injected so tests can drive it wholly."""

    reactor: Any
    stdout: TextIO
    stderr: TextIO
    env: Mapping[str, str]
    ask_password: Callable[[str], str] = getpass.getpass
    # reads one line for the shell (None at end of input); see shell.py
    read_line: Callable[[str], Deferred[str | None]] | None = None
    interactive: bool = False

    def print(self, text: str = "") -> None:
        print(text, file=self.stdout)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ftpkit", description="Talk to an ftpkit server.",
        epilog="Password: $FTPKIT_PASSWORD, or a prompt. Exit codes: 0 ok, 1 server error, "
               "2 usage, 3 connection failed (TLS verification included), 4 login refused.")
    parser.add_argument("--host", default=None, help="server host [$FTPKIT_HOST or 127.0.0.1]")
    parser.add_argument("--port", type=int, default=None, help="server port [$FTPKIT_PORT or 8021]")
    parser.add_argument("--user", default=None, help="user name [$FTPKIT_USER or your login]")
    parser.add_argument("--tls", action="store_true",
                        help="connect with TLS, verifying the server's certificate against "
                             "the system's trusted CAs (or --cafile's)")
    parser.add_argument("--cafile", default=None, metavar="FILE",
                        help="trust the CA certificate(s) in this PEM file instead of the "
                             "system's; implies --tls")
    parser.add_argument("--connect-timeout", type=_seconds, default=HELLO_TIMEOUT,
                        metavar="SECONDS",
                        help=f"give up if the server has not greeted us by then "
                             f"[{HELLO_TIMEOUT:g}]")
    parser.add_argument("--version", action="version", version=f"ftpkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    actions.add_subcommands(sub)
    p = sub.add_parser("shell", help="an interactive shell (reads commands from stdin when "
                                     "piped, stopping at the first error)")
    p.set_defaults(action=shell.run_shell)
    return parser


async def run(inv: Invocation, argv: Sequence[str]) -> int:
    """Parse, connect, log in, act; return the exit code. Errors are reported here."""
    parser = build_parser()
    try:
        opts = parser.parse_args(argv)
    except SystemExit as e:  # argparse has printed usage or help
        return exits.USAGE if e.code else exits.OK
    host = opts.host or inv.env.get("FTPKIT_HOST") or "127.0.0.1"
    port = opts.port or int(inv.env.get("FTPKIT_PORT") or 8021)
    user = opts.user or inv.env.get("FTPKIT_USER") or getpass.getuser()
    password = inv.env.get("FTPKIT_PASSWORD")
    if password is None:  # ask before connecting: the prompt blocks
        try:
            password = inv.ask_password(f"Password for {user}@{host}: ")
        except (EOFError, KeyboardInterrupt):
            return exits.report(UsageError("no password: set FTPKIT_PASSWORD or use a terminal"),
                                inv.stderr)
    try:
        tls = (client_tls(host, Path(opts.cafile) if opts.cafile else None)
               if opts.tls or opts.cafile else None)
        endpoint = HostnameEndpoint(inv.reactor, host, port, timeout=opts.connect_timeout)
        try:
            client = await Client.connect(inv.reactor, endpoint, tls=tls,
                                          timeout=opts.connect_timeout)
        except (ConnectError, DNSLookupError) as e:
            raise exits.connect_failed(host, port, e) from None
        except NoHello as e:
            hint = "" if tls else "; if that port serves TLS, use --tls"
            raise exits.ConnectFailed(f"cannot connect to {host}:{port}: {e}{hint}") from None
        try:
            session = await client.login(user, password)
            opts.logged_in_as = session["user"]
            action: actions.Action = opts.action
            code = await action(inv, client, opts)
            try:
                await client.quit()
            except (ConnectionClosed, RemoteError):  # closed first (a stopping server): done
                pass
            return code
        finally:
            client.close()
    except Exception as e:  # noqa: BLE001 - exits.report re-raises what it does not know
        return exits.report(e, inv.stderr)


def main(argv: Sequence[str] | None = None) -> None:
    from twisted.internet import reactor
    from twisted.internet.task import react

    keep_freed_heap()  # a client process lives for its transfers (ftpkit.memory)
    inv = Invocation(reactor, sys.stdout, sys.stderr, os.environ,
                     read_line=shell.stdin_reader(reactor), interactive=sys.stdin.isatty())

    def start(_reactor: Any) -> Deferred[int]:
        return Deferred.fromCoroutine(run(inv, sys.argv[1:] if argv is None else argv))

    def finish(code: int) -> None:
        raise SystemExit(code)

    react(lambda r: start(r).addCallback(finish))
