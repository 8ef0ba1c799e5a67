"""
ftpkit-admin: manage the user database.

test-case-name: tests.unit.test_admin

    ftpkit-admin [--users DB] add NAME [--quota SIZE] [--home DIR]
    ftpkit-admin [--users DB] passwd NAME
    ftpkit-admin [--users DB] set-quota NAME SIZE
    ftpkit-admin [--users DB] enable|disable NAME
    ftpkit-admin [--users DB] remove NAME
    ftpkit-admin [--users DB] rescan NAME
    ftpkit-admin [--users DB] list
    ftpkit-admin check-config FILE

Passwords are read from a prompt, or from standard input when it is not a
terminal; never from the command line. Changes apply to a running server at
the user's next login (quota: next write). check-config validates a server
config with the server's own code, without starting a server or touching the
user database.

Public API: none (the ftpkit-admin command's behaviour is documented in README.md).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from attrs import frozen

from ftpkit import __version__
from ftpkit.auth.passwords import PasswordHasher
from ftpkit.auth.userdb import UserDB, UserDBError, check_username
from ftpkit.units import format_size, parse_size

DEFAULT_USERS = "var/users.sqlite"


@frozen
class AdminIO:
    stdin: TextIO
    stdout: TextIO
    stderr: TextIO
    ask: Callable[[str], str] = getpass.getpass
    hasher: PasswordHasher = PasswordHasher()


class AdminError(Exception):
    pass


def read_password(io: AdminIO, name: str) -> str:
    if io.stdin.isatty():
        try:
            first = io.ask(f"New password for {name}: ")
            again = io.ask("Again: ")
        except (EOFError, KeyboardInterrupt):
            raise AdminError("no password given") from None
        if again != first:
            raise AdminError("the passwords differ")
    else:
        first = io.stdin.readline().rstrip("\r\n")
    if not first:
        raise AdminError("empty password")
    return first


def _size(text: str) -> int | None:
    try:
        return parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def check_home(home: str | None) -> None:
    """A relative home lives under the server's root: it may not climb out with '..'."""
    if home is not None and not os.path.isabs(home) and ".." in Path(home).parts:
        raise AdminError(f"--home {home!r}: a relative home may not contain '..'")


def cmd_add(db: UserDB, opts: argparse.Namespace, io: AdminIO) -> None:
    check_username(opts.name)
    check_home(opts.home)
    if db.get(opts.name) is not None:
        raise AdminError(f"user {opts.name!r} already exists")
    password = read_password(io, opts.name)
    db.add(opts.name, io.hasher.hash(password), opts.quota, opts.home)
    print(f"added {opts.name} (quota {format_size(opts.quota)})", file=io.stdout)


def cmd_passwd(db: UserDB, opts: argparse.Namespace, io: AdminIO) -> None:
    if db.get(opts.name) is None:
        raise AdminError(f"no user {opts.name!r}")
    db.set_password_hash(opts.name, io.hasher.hash(read_password(io, opts.name)))
    print(f"password changed for {opts.name}", file=io.stdout)


def cmd_set_quota(db: UserDB, opts: argparse.Namespace, io: AdminIO) -> None:
    db.set_quota(opts.name, opts.size)
    print(f"quota of {opts.name} is now {format_size(opts.size)}", file=io.stdout)


def cmd_enable(db: UserDB, opts: argparse.Namespace, io: AdminIO) -> None:
    db.set_enabled(opts.name, opts.enabled)
    print(f"{opts.name} {'enabled' if opts.enabled else 'disabled'}", file=io.stdout)


def cmd_remove(db: UserDB, opts: argparse.Namespace, io: AdminIO) -> None:
    db.remove(opts.name)
    print(f"removed {opts.name} (their home directory is left in place)", file=io.stdout)


def cmd_rescan(db: UserDB, opts: argparse.Namespace, io: AdminIO) -> None:
    db.request_rescan(opts.name)
    print(f"{opts.name}'s usage will be recounted by the server at their next write or "
          "quota check", file=io.stdout)


def cmd_list(db: UserDB, opts: argparse.Namespace, io: AdminIO) -> None:
    rows = [("NAME", "QUOTA", "ENABLED", "HOME")]
    for u in db.list():
        rows.append((u.name, format_size(u.quota), "yes" if u.enabled else "no",
                     u.home if u.home is not None else f"<root>/{u.name}"))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print(f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}",
              file=io.stdout)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ftpkit-admin", description="Manage ftpkit users.",
        epilog="SIZE: bytes, or a number with K, M, G or T (powers of 1024), or 'unlimited'.")
    parser.add_argument("--users", default=None,
                        help=f"user database [$FTPKIT_USERS or {DEFAULT_USERS}]")
    parser.add_argument("--version", action="version", version=f"ftpkit-admin {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("add", help="add a user (password from a prompt or stdin)")
    p.add_argument("name")
    p.add_argument("--quota", type=_size, default=None, metavar="SIZE",
                   help="byte limit [unlimited]")
    p.add_argument("--home", default=None, metavar="DIR",
                   help="home directory; relative to the server's root [ROOT/NAME]")
    p.set_defaults(action=cmd_add)
    p = sub.add_parser("passwd", help="set a user's password (from a prompt or stdin)")
    p.add_argument("name")
    p.set_defaults(action=cmd_passwd)
    p = sub.add_parser("set-quota", help="set a user's byte limit")
    p.add_argument("name")
    p.add_argument("size", type=_size, metavar="SIZE")
    p.set_defaults(action=cmd_set_quota)
    for verb, enabled in (("enable", True), ("disable", False)):
        p = sub.add_parser(verb, help=f"{verb} a user's logins")
        p.add_argument("name")
        p.set_defaults(action=cmd_enable, enabled=enabled)
    p = sub.add_parser("remove", help="remove a user (their files stay)")
    p.add_argument("name")
    p.set_defaults(action=cmd_remove)
    p = sub.add_parser("rescan", help="have the server recount a user's usage (after changes "
                                      "made outside ftpkit)")
    p.add_argument("name")
    p.set_defaults(action=cmd_rescan)
    p = sub.add_parser("list", help="list the users")
    p.set_defaults(action=cmd_list)
    p = sub.add_parser("check-config", help="validate a server config file as the server "
                                            "would (commands, listen endpoints), then exit")
    p.add_argument("file", metavar="FILE")
    return parser


def check_config(path: Path, io: AdminIO) -> int:
    from twisted.python.usage import UsageError

    from ftpkit.server.tap import check_config

    try:
        config = check_config(path)
    except UsageError as e:
        print(f"ftpkit-admin: {e}", file=io.stderr)
        return 1
    logging = config.logging
    print("ok", file=io.stdout)
    print(f"  listen: {', '.join(config.listen)}\n  root: {config.root}\n"
          f"  users: {config.users}\n"
          f"  log: {_log_place(logging.file, 'where twistd logs (--logfile)')}, "
          f"{logging.format}, {logging.level} and above\n"
          f"  audit: {_log_place(logging.audit, 'in the log')}", file=io.stdout)
    return 0


def _log_place(path: Path | None, unset: str) -> str:
    return unset if path is None else "standard output" if str(path) == "-" else str(path)


def run(argv: Sequence[str], io: AdminIO, env: dict[str, str] | None = None) -> int:
    try:
        opts = build_parser().parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0
    if opts.command == "check-config":
        return check_config(Path(opts.file), io)
    env = dict(os.environ) if env is None else env
    db = UserDB(Path(opts.users or env.get("FTPKIT_USERS") or DEFAULT_USERS))
    try:
        db.create()
        opts.action(db, opts, io)
    except (AdminError, UserDBError) as e:
        print(f"ftpkit-admin: {e}", file=io.stderr)
        return 1
    except (sqlite3.Error, OSError) as e:  # not a database, a directory, no permission...
        print(f"ftpkit-admin: {db.path}: {e}", file=io.stderr)
        return 1
    return 0


def main() -> None:
    sys.exit(run(sys.argv[1:], AdminIO(sys.stdin, sys.stdout, sys.stderr)))
