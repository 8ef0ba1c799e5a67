"""
Password hashing with argon2id.

test-case-name: tests.unit.test_userdb

All methods block (by design: hashing costs CPU and memory). Call them from a
thread, never from the reactor thread.

Public API: none (internal).
"""

from __future__ import annotations

import secrets
from functools import cached_property

import argon2


class PasswordHasher:
    """argon2id with argon2-cffi's defaults (RFC 9106 low-memory profile)."""

    def __init__(self, hasher: argon2.PasswordHasher | None = None) -> None:
        self._hasher = hasher or argon2.PasswordHasher()

    @classmethod
    def cheap(cls) -> PasswordHasher:
        """Fast, weak parameters: for tests only."""
        return cls(argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError,
                UnicodeEncodeError):  # a stored hash that is not even ASCII
            return False

    @cached_property
    def dummy_hash(self) -> str:
        """A hash no password matches, verified for unknown users so they take as long."""
        return self._hasher.hash(secrets.token_urlsafe(32))  # a password nobody knows
