"""
The ftpkit command: one session as one user, one command.

test-case-name: tests.unit.test_cli

    ftpkit [--host H] [--port P] [--user U] COMMAND ...

The password comes from $FTPKIT_PASSWORD, or else from a prompt.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, TextIO

from attrs import frozen
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.error import ConnectError, DNSLookupError

from ftpkit import __version__
from ftpkit.cli import exits
from ftpkit.cli.exits import UsageError
from ftpkit.client.api import Client
from ftpkit.protocol.messages import CommandInfo

Action = Callable[["Invocation", Client, argparse.Namespace], Coroutine[Any, Any, int]]


@frozen
class Invocation:
    """What a CLI run may touch: injected so tests can drive it wholly."""

    reactor: Any
    stdout: TextIO
    stderr: TextIO
    env: Mapping[str, str]
    ask_password: Callable[[str], str] = getpass.getpass

    def print(self, text: str = "") -> None:
        print(text, file=self.stdout)


async def cmd_commands(inv: Invocation, client: Client, opts: argparse.Namespace) -> int:
    commands = await client.commands()
    width = max((len(c["name"]) for c in commands), default=0)
    for c in commands:
        inv.print(f"{c['name']:<{width}}  {c['description']}")
    return exits.OK


async def cmd_call(inv: Invocation, client: Client, opts: argparse.Namespace) -> int:
    args = parse_call_args(opts.pairs, client.command_info(opts.name))
    result = await client.call(opts.name, **args)
    inv.print(json.dumps(result, indent=2, ensure_ascii=False, sort_keys=True))
    return exits.OK


async def cmd_whoami(inv: Invocation, client: Client, opts: argparse.Namespace) -> int:
    inv.print(opts.logged_in_as)
    return exits.OK


def parse_call_args(pairs: Sequence[str], info: CommandInfo | None) -> dict[str, Any]:
    """
    C{key=value} pairs for C{ftpkit call}. A value is converted to the type the
    server declares for that argument; C{key:=JSON} passes any JSON value as is.
    """
    types = {a.name: a.type for a in info.args} if info is not None else {}
    args: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"expected key=value or key:=json, got {pair!r}")
        if key.endswith(":"):
            try:
                args[key[:-1]] = json.loads(value)
            except ValueError:
                raise UsageError(f"{key[:-1]}: not valid JSON: {value!r}") from None
            continue
        args[key] = _convert(key, value, types.get(key, "str"))
    return args


def _convert(key: str, value: str, type_name: str) -> Any:
    if type_name == "int":
        try:
            return int(value)
        except ValueError:
            raise UsageError(f"{key} must be an integer, not {value!r}") from None
    if type_name == "bool":
        lowered = value.lower()
        if lowered in ("true", "yes", "1", "on"):
            return True
        if lowered in ("false", "no", "0", "off"):
            return False
        raise UsageError(f"{key} must be true or false, not {value!r}")
    if type_name == "any":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ftpkit", description="Talk to an ftpkit server.",
        epilog="Password: $FTPKIT_PASSWORD, or a prompt. Exit codes: 0 ok, 1 server error, "
               "2 usage, 3 connection failed, 4 login refused.")
    parser.add_argument("--host", default=None, help="server host [$FTPKIT_HOST or 127.0.0.1]")
    parser.add_argument("--port", type=int, default=None, help="server port [$FTPKIT_PORT or 8021]")
    parser.add_argument("--user", default=None, help="user name [$FTPKIT_USER or your login]")
    parser.add_argument("--version", action="version", version=f"ftpkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("commands", help="list the server's commands")
    p.set_defaults(action=cmd_commands)
    p = sub.add_parser("call", help="call any command: ftpkit call NAME key=value key:=json ...")
    p.add_argument("name")
    p.add_argument("pairs", nargs="*", metavar="key=value")
    p.set_defaults(action=cmd_call)
    p = sub.add_parser("whoami", help="log in and print the user name")
    p.set_defaults(action=cmd_whoami)
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
        try:
            client = await Client.connect(inv.reactor, HostnameEndpoint(inv.reactor, host, port))
        except (ConnectError, DNSLookupError) as e:
            raise exits.connect_failed(host, port, e) from None
        try:
            session = await client.login(user, password)
            opts.logged_in_as = session["user"]
            action: Action = opts.action
            code = await action(inv, client, opts)
            await client.quit()
            return code
        finally:
            client.close()
    except Exception as e:  # noqa: BLE001 - exits.report re-raises what it does not know
        return exits.report(e, inv.stderr)


def main(argv: Sequence[str] | None = None) -> None:
    from twisted.internet import reactor
    from twisted.internet.task import react

    inv = Invocation(reactor, sys.stdout, sys.stderr, os.environ)

    def start(_reactor: Any) -> Deferred[int]:
        return Deferred.fromCoroutine(run(inv, sys.argv[1:] if argv is None else argv))

    def finish(code: int) -> None:
        raise SystemExit(code)

    react(lambda r: start(r).addCallback(finish))
