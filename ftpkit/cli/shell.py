"""
ftpkit shell: one session, many commands.

test-case-name: tests.unit.test_shell

Interactive on a terminal (prompt, history, tab completion, `help`); otherwise it
reads commands from stdin, one a line, and stops with the exit code of the first
command that fails. A word that is not a shell command but is a command of the
server (a plugin, say) is called with key=value arguments, as `call` would.

Public API: none (the shell's behaviour is documented in README.md).
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool

from ftpkit.cli import actions, exits
from ftpkit.cli.exits import UsageError
from ftpkit.client.api import Client
from ftpkit.client.protocol import ConnectionClosed, ProtocolError

if TYPE_CHECKING:
    from ftpkit.cli.client import Invocation

HISTORY = Path("~/.ftpkit_history")
_NOT_HERE = {"shell"}
_SESSION = {"login", "logout", "quit"}  # the shell's own session: not for calling
_LEAVE = {"exit", "quit", "bye"}


class _ShellParser(argparse.ArgumentParser):
    """Raises instead of exiting, so a typo does not end the shell."""

    def error(self, message: str) -> Any:
        raise UsageError(message)


def make_parser() -> tuple[argparse.ArgumentParser, dict[str, str]]:
    parser = _ShellParser(prog="", add_help=False)
    sub = parser.add_subparsers(dest="command", parser_class=_ShellParser)
    actions.add_subcommands(sub)
    helps = {a.dest: a.help or "" for a in sub._choices_actions}
    return parser, helps


async def run_shell(inv: Invocation, client: Client, opts: argparse.Namespace) -> int:
    if inv.read_line is None:
        raise UsageError("the shell needs an input")
    parser, helps = make_parser()
    if inv.interactive:
        _setup_readline(sorted({*helps, *(c.name for c in client.hello.commands), "help",
                                "exit"}))
    status = exits.OK
    while True:
        prompt = f"ftpkit:{await client.pwd()}> " if inv.interactive else ""
        line = await inv.read_line(prompt)
        if line is None:
            break
        try:
            words = shlex.split(line, comments=True)
        except ValueError as e:
            status = exits.report(UsageError(str(e)), inv.stderr)
            if not inv.interactive:
                return status
            continue
        if not words:
            continue
        if words[0] in _LEAVE:
            break
        status = await _one(inv, client, parser, helps, words, opts.logged_in_as)
        if status != exits.OK and not inv.interactive:
            return status
    return status if not inv.interactive else exits.OK


async def _one(inv: Invocation, client: Client, parser: argparse.ArgumentParser,
               helps: dict[str, str], words: list[str], user: str) -> int:
    try:
        if words[0] == "help":
            _help(inv, client, helps)
            return exits.OK
        if words[0] in helps and words[0] not in _NOT_HERE:
            opts = parser.parse_args(words)
            opts.logged_in_as, opts.in_shell = user, True
            action: actions.Action = opts.action
            return await action(inv, client, opts)
        if client.command_info(words[0]) is not None and words[0] not in _SESSION:
            opts = argparse.Namespace(name=words[0], pairs=words[1:])
            return await actions.call(inv, client, opts)
        raise UsageError(f"unknown command {words[0]!r}; try 'help'")
    except (ConnectionClosed, ProtocolError):
        raise
    except Exception as e:  # noqa: BLE001 - report() re-raises what it does not know
        return exits.report(e, inv.stderr)


def _help(inv: Invocation, client: Client, helps: dict[str, str]) -> None:
    inv.print("Shell commands (PATH: relative, or absolute from your home):")
    for name, text in helps.items():
        if name not in _NOT_HERE:
            inv.print(f"  {name:<9} {text}")
    inv.print("  help      this list")
    inv.print("  exit      leave (also quit, or end of input)")
    extra = [c for c in client.hello.commands if c.name not in helps and c.name not in _SESSION]
    if extra:
        inv.print("Other server commands (NAME key=value ...):")
        for c in extra:
            inv.print(f"  {c.name:<9} {c.description}")


def _setup_readline(words: list[str]) -> None:
    try:
        import readline
    except ImportError:  # pragma: no cover - not on every platform
        return
    history = HISTORY.expanduser()
    with contextlib.suppress(OSError):
        readline.read_history_file(history)
    readline.set_history_length(1000)
    import atexit

    atexit.register(_save_history, readline, history)

    def complete(text: str, state: int) -> str | None:
        if readline.get_begidx() != 0:
            return None
        matches = [w + " " for w in words if w.startswith(text)]
        return matches[state] if state < len(matches) else None

    readline.set_completer(complete)
    readline.parse_and_bind("tab: complete")


def _save_history(readline: Any, history: Path) -> None:
    with contextlib.suppress(OSError):
        readline.write_history_file(history)


def stdin_reader(reactor: Any) -> Callable[[str], Deferred[str | None]]:
    """Reads a line in a thread, so the reactor keeps running meanwhile."""

    def read(prompt: str) -> Deferred[str | None]:
        def blocking() -> str | None:
            if prompt:
                try:
                    return input(prompt)
                except EOFError:
                    print(file=sys.stdout)
                    return None
            line = sys.stdin.readline()
            return line.rstrip("\r\n") if line else None

        return deferToThreadPool(reactor, reactor.getThreadPool(), blocking)

    return read

