"""
The user database: one SQLite file, shared by the server and ftpkit-admin.

test-case-name: tests.unit.test_userdb

Every method blocks; the server calls them from its thread pool. Each call opens
its own connection, so a change made by ftpkit-admin is seen by the running
server on the next lookup, without a restart.

Public API: none (internal; manage users with ftpkit-admin).
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from attrs import frozen

SCHEMA_VERSION = 1
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")


class UserDBError(Exception):
    """A user database operation that cannot be done (with a message for people)."""


def check_username(name: str) -> str:
    if not _NAME.match(name):
        raise UserDBError(
            f"invalid user name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


@frozen
class UserRecord:
    name: str
    password_hash: str
    quota: int | None  # bytes; None is unlimited
    home: str | None  # None: ROOT/<name>; relative: under ROOT
    enabled: bool
    rescan: int = 0  # bumped by "ftpkit-admin rescan": the server rescans usage


_COLUMNS = "name, password_hash, quota, home, enabled, rescan"


def _record(row: tuple[Any, ...]) -> UserRecord:
    return UserRecord(row[0], row[1], row[2], row[3], bool(row[4]), row[5])


class UserDB:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=10)) as db:
            with db:  # one transaction
                yield db

    def create(self) -> None:
        """Create the file and schema if missing; refuse a newer schema."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise UserDBError(f"{self.path} has schema {version}; this ftpkit knows "
                                  f"{SCHEMA_VERSION}: upgrade ftpkit")
            db.execute(
                "CREATE TABLE IF NOT EXISTS users ("
                " name TEXT PRIMARY KEY,"
                " password_hash TEXT NOT NULL,"
                " quota INTEGER,"
                " home TEXT,"
                " enabled INTEGER NOT NULL DEFAULT 1,"
                " rescan INTEGER NOT NULL DEFAULT 0,"
                " created REAL NOT NULL)"
            )
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self.path.chmod(0o600)

    def get(self, name: str) -> UserRecord | None:
        with self._connect() as db:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM users WHERE name = ?", (name,)
            ).fetchone()
        return None if row is None else _record(row)

    def list(self) -> list[UserRecord]:
        with self._connect() as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM users ORDER BY name").fetchall()
        return [_record(r) for r in rows]

    def add(self, name: str, password_hash: str, quota: int | None, home: str | None) -> None:
        check_username(name)
        try:
            with self._connect() as db:
                db.execute(
                    "INSERT INTO users (name, password_hash, quota, home, enabled, created)"
                    " VALUES (?, ?, ?, ?, 1, ?)",
                    (name, password_hash, quota, home, time.time()),
                )
        except sqlite3.IntegrityError:
            raise UserDBError(f"user {name!r} already exists") from None

    def _update(self, name: str, column: str, value: object) -> None:
        with self._connect() as db:
            cursor = db.execute(f"UPDATE users SET {column} = ? WHERE name = ?", (value, name))
        if cursor.rowcount == 0:
            raise UserDBError(f"no user {name!r}")

    def set_password_hash(self, name: str, password_hash: str) -> None:
        self._update(name, "password_hash", password_hash)

    def set_quota(self, name: str, quota: int | None) -> None:
        self._update(name, "quota", quota)

    def set_enabled(self, name: str, enabled: bool) -> None:
        self._update(name, "enabled", int(enabled))

    def request_rescan(self, name: str) -> None:
        with self._connect() as db:
            cursor = db.execute("UPDATE users SET rescan = rescan + 1 WHERE name = ?", (name,))
        if cursor.rowcount == 0:
            raise UserDBError(f"no user {name!r}")

    def remove(self, name: str) -> None:
        with self._connect() as db:
            cursor = db.execute("DELETE FROM users WHERE name = ?", (name,))
        if cursor.rowcount == 0:
            raise UserDBError(f"no user {name!r}")
