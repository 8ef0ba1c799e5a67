"""
What each ftpkit subcommand does with a logged-in client, and how it prints.

test-case-name: tests.unit.test_cli

Every action is `async def action(inv, client, opts) -> exit code`; the same
actions serve one-shot commands and the shell.

Public API: none (the ftpkit command's behaviour is documented in README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftpkit.cli import exits
from ftpkit.cli.exits import UsageError
from ftpkit.cli.progress import ProgressBar, Stopwatch, summary
from ftpkit.client.api import Client
from ftpkit.protocol.messages import CommandInfo
from ftpkit.units import format_size, parse_size

if TYPE_CHECKING:
    from ftpkit.cli.client import Invocation

Action = Callable[["Invocation", Client, argparse.Namespace], Coroutine[Any, Any, int]]
_TYPE_MARK = {"dir": "d", "file": "-", "symlink": "l"}


async def commands(inv: Invocation, client: Client, opts: argparse.Namespace) -> int:
    listed = await client.commands()
    width = max((len(c["name"]) for c in listed), default=0)
    for c in listed:
        inv.print(f"{c['name']:<{width}}  {c['description']}")
    return exits.OK


async def call(inv: Invocation, client: Client, opts: argparse.Namespace) -> int:
    args = parse_call_args(opts.pairs, client.command_info(opts.name))
    result = await client.call(opts.name, **args)
    inv.print(json.dumps(result, indent=2, ensure_ascii=False, sort_keys=True))
    return exits.OK


async def whoami(inv: Invocation, client: Client, opts: argparse.Namespace) -> int:
    inv.print(opts.logged_in_as)
    return exits.OK


async def pwd(inv: Invocation, client: Client, opts: argparse.Namespace) -> int:
    inv.print(await client.pwd())
    return exits.OK


async def cd(inv: Invocation, client: Client, opts: argparse.Namespace) -> int:
    path = await client.cd(opts.path)
    if not getattr(opts, "in_shell", False):  # one-shot: say where that would be
        inv.print(path)
    return exits.OK


async def ls(inv: Invocation, client: Client, opts: argparse.Namespace) -> int:
    async for entry in client.ls_all(opts.path):
        inv.print(long_line(entry) if opts.long else short_name(entry))
    return exits.OK


def short_name(entry: Mapping[str, Any]) -> str:
    return str(entry["name"]) + ("/" if entry["type"] == "dir" else "")


def long_line(entry: Mapping[str, Any]) -> str:
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry["mtime"]))
    return (f"{_TYPE_MARK.get(entry['type'], '?')} {entry['size']:>14,} {when}  "
            f"{short_name(entry)}")


async def stat(inv: Invocation, client: Client, opts: argparse.Namespace) -> int:
    entry = await client.stat(opts.path)
    for key in ("path", "type", "size", "mtime"):
        value = entry[key]
        if key == "mtime":
            value = f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(value))} ({value})"
        inv.print(f"{key + ':':<6} {value}")
    return exits.OK


async def mkdir(inv: Invocation, client: Client, opts: argparse.Namespace) -> int:
    for path in opts.paths:
        await client.mkdir(path, parents=opts.parents)
    return exits.OK


async def rmdir(inv: Invocation, client: Client, opts: argparse.Namespace) -> int:
    for path in opts.paths:
        await client.rmdir(path)
    return exits.OK


async def rm(inv: Invocation, client: Client, opts: argparse.Namespace) -> int:
    for path in opts.paths:
        await client.rm(path)
    return exits.OK


async def mv(inv: Invocation, client: Client, opts: argparse.Namespace) -> int:
    await client.mv(opts.src, opts.dst)
    return exits.OK


async def quota(inv: Invocation, client: Client, opts: argparse.Namespace) -> int:
    q = await client.quota()
    limit = "unlimited" if q["limit"] is None else format_size(q["limit"])
    free = "" if q["free"] is None else f", {format_size(q['free'])} free"
    inv.print(f"used {format_size(q['used'])} of {limit}{free}; {q['files']} files")
    return exits.OK


def _rate(opts: argparse.Namespace) -> float | None:
    if opts.limit_rate is None:
        return None
    try:
        rate = parse_size(opts.limit_rate, allow_unlimited=False)
    except ValueError as e:
        raise UsageError(f"--limit-rate: {e}") from None
    if not rate:
        raise UsageError("--limit-rate must be more than 0")
    return float(rate)


def _bar(inv: Invocation, opts: argparse.Namespace, label: str) -> ProgressBar:
    return ProgressBar(label, inv.stderr, enabled=not opts.no_progress and inv.stderr.isatty())


async def put(inv: Invocation, client: Client, opts: argparse.Namespace) -> int:
    local = Path(opts.local)
    rate = _rate(opts)
    if local.is_dir():
        if not opts.recursive:
            raise UsageError(f"{local} is a directory; use put -r")
        return await _put_tree(inv, client, opts, local, rate)
    if not local.is_file():
        raise UsageError(f"{local}: no such file")
    await _put_one(inv, client, opts, local, opts.remote or ".", rate)
    return exits.OK


async def _put_one(inv: Invocation, client: Client, opts: argparse.Namespace, local: Path,
                   remote: str, rate: float | None) -> None:
    bar = _bar(inv, opts, f"put {local.name}")
    watch = Stopwatch()
    try:
        result = await client.put(local, remote, progress=bar, rate=rate)
    finally:
        bar.close()
    inv.print(summary("put", str(local), result["path"], result, watch.seconds))


async def _put_tree(inv: Invocation, client: Client, opts: argparse.Namespace, root: Path,
                    rate: float | None) -> int:
    base = opts.remote or root.resolve().name
    await client.mkdir(base, parents=True)
    for directory, subdirs, files in os.walk(root):
        subdirs.sort()
        relative = Path(directory).relative_to(root)
        remote_dir = base if relative == Path(".") else f"{base}/{relative.as_posix()}"
        if relative != Path("."):
            await client.mkdir(remote_dir, parents=True)
        for name in sorted(files):
            await _put_one(inv, client, opts, Path(directory) / name, f"{remote_dir}/{name}",
                           rate)
    return exits.OK


async def get(inv: Invocation, client: Client, opts: argparse.Namespace) -> int:
    remote_name = opts.remote.rstrip("/").rsplit("/", 1)[-1]
    if not remote_name or remote_name in (".", ".."):
        raise UsageError(f"{opts.remote!r} does not name a file")
    local = Path(opts.local) if opts.local else Path(remote_name)
    if local.is_dir():
        local = local / remote_name
    bar = _bar(inv, opts, f"get {remote_name}")
    watch = Stopwatch()
    try:
        result = await client.get(opts.remote, local, progress=bar, rate=_rate(opts))
    finally:
        bar.close()
    inv.print(summary("get", result["path"], str(local), result, watch.seconds))
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


def add_subcommands(sub: Any) -> None:
    """The subcommands shared by the command line and the shell."""

    def add(name: str, action: Action, help: str, *arguments: tuple[Sequence[str], dict[str, Any]]
            ) -> None:
        p = sub.add_parser(name, help=help, description=help)
        for flags, kw in arguments:
            p.add_argument(*flags, **kw)
        p.set_defaults(action=action)

    path = (["path"], {"help": "a path; / is your home"})
    paths = (["paths"], {"nargs": "+", "metavar": "PATH"})
    add("commands", commands, "list the server's commands")
    add("call", call, "call any command: call NAME key=value key:=json ...",
        (["name"], {}), (["pairs"], {"nargs": "*", "metavar": "key=value"}))
    add("whoami", whoami, "print the user name")
    add("pwd", pwd, "print the current directory")
    add("cd", cd, "change the current directory",
        (["path"], {"nargs": "?", "default": "/", "help": "where to [/]"}))
    add("ls", ls, "list a directory", (["-l"], {"dest": "long", "action": "store_true",
                                               "help": "long form: type, size, mtime, name"}),
        (["path"], {"nargs": "?", "default": "."}))
    add("stat", stat, "show one entry", path)
    add("mkdir", mkdir, "make directories", (["-p"], {"dest": "parents", "action": "store_true",
                                                     "help": "make parents as needed"}), paths)
    add("rmdir", rmdir, "remove empty directories", paths)
    add("rm", rm, "remove files", paths)
    add("mv", mv, "rename or move", (["src"], {}), (["dst"], {}))
    add("quota", quota, "show usage and limit")
    transfer = ((["--no-progress"], {"action": "store_true", "help": "no progress bar"}),
                (["--limit-rate"], {"metavar": "RATE", "help": "at most RATE bytes/s, "
                                                                "e.g. 500K or 2M"}))
    add("put", put, "upload a file (verified, resumable: run it again after a failure)",
        (["local"], {"metavar": "LOCAL"}),
        (["remote"], {"metavar": "REMOTE", "nargs": "?",
                      "help": "where [the current directory, same name]"}),
        (["-r"], {"dest": "recursive", "action": "store_true", "help": "a directory tree"}),
        *transfer)
    add("get", get, "download a file (verified, resumable: run it again after a failure)",
        (["remote"], {"metavar": "REMOTE"}),
        (["local"], {"metavar": "LOCAL", "nargs": "?", "help": "where [same name, here]"}),
        *transfer)
