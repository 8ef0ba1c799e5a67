"""
Quota accounting: what each user stores, known without walking the tree per request.

test-case-name: tests.unit.test_quota

A user's usage is scanned once, when their first session starts (so it is right
after a restart and after changes made outside the server while they were away),
then kept up to date by every write, delete and rename. It is scanned again when
an admin asks (C{ftpkit-admin rescan NAME}), seen at the next refresh. The limit
is re-read from the user database before each write, so a changed quota applies
from the user's next write.

Public API: L{QuotaAccount}: C{ensure_room}, C{charge}, C{report}, and the
C{limit}, C{used}, C{files} and C{free} attributes (reached as C{context.avatar.quota}).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from attrs import define, field
from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure

from ftpkit.protocol.errors import CommandError, ErrorCode
from ftpkit.units import format_size


@define
class QuotaAccount:
    """One user's byte limit and usage, shared by all of that user's sessions."""

    name: str
    limit: int | None  # None: unlimited
    used: int = 0
    files: int = 0
    reserved: int = 0  # promised to transfers under way, not yet stored
    epoch: int = 0  # the user database's rescan counter when last scanned
    sessions: int = field(default=0, repr=False)
    uploads: set[str] = field(factory=set, repr=False)  # staged uploads under way
    bucket: Any = field(default=None, repr=False)  # the user's TokenBucket, if rate-limited

    @property
    def free(self) -> int | None:
        if self.limit is None:
            return None
        return max(0, self.limit - self.used - self.reserved)

    def ensure_room(self, extra: int) -> None:
        """Raise quota_exceeded unless C{extra} more bytes fit."""
        free = self.free
        if extra > 0 and free is not None and extra > free:
            assert self.limit is not None
            raise CommandError(
                ErrorCode.QUOTA_EXCEEDED,
                f"needs {format_size(extra)} but only {format_size(free)} of "
                f"{format_size(self.limit)} is free",
            )

    def charge(self, size: int, files: int = 0) -> None:
        """Record C{size} bytes and C{files} files added (negative: removed)."""
        self.used = max(0, self.used + size)
        self.files = max(0, self.files + files)

    def reserve(self, size: int) -> None:
        self.reserved += size

    def release(self, size: int) -> None:
        self.reserved = max(0, self.reserved - size)

    def report(self) -> dict[str, Any]:
        return {"used": self.used, "limit": self.limit, "free": self.free,
                "files": self.files}


@define
class QuotaBook:
    """
    The accounts of the users with open sessions. L{open} scans usage for a user's
    first session; L{close} forgets the account when their last session ends.
    """

    _accounts: dict[str, QuotaAccount] = field(factory=dict)
    _loading: dict[str, list[Deferred[QuotaAccount]]] = field(factory=dict)

    def open(self, name: str, limit: int | None, epoch: int,
             scan: Callable[[], Deferred[tuple[int, int]]]) -> Deferred[QuotaAccount]:
        account = self._accounts.get(name)
        if account is not None:
            account.sessions += 1
            account.limit = limit
            return succeed(account)
        d: Deferred[QuotaAccount] = Deferred()
        waiters = self._loading.get(name)
        if waiters is not None:  # another session of this user is scanning already
            waiters.append(d)
            return d
        self._loading[name] = [d]
        scan().addCallbacks(self._scanned, self._scan_failed,
                            callbackArgs=(name, limit, epoch), errbackArgs=(name,))
        return d

    def _scanned(self, usage: tuple[int, int], name: str, limit: int | None,
                 epoch: int) -> None:
        account = QuotaAccount(name, limit, usage[0], usage[1], epoch=epoch)
        self._accounts[name] = account
        for d in self._loading.pop(name):
            account.sessions += 1
            d.callback(account)

    def _scan_failed(self, failure: Failure, name: str) -> None:
        for d in self._loading.pop(name):
            d.errback(failure)

    async def refresh(self, account: QuotaAccount, limit: int | None, epoch: int,
                      scan: Callable[[], Deferred[tuple[int, int]]]) -> None:
        """Apply a limit read afresh, and rescan if an admin asked for it."""
        account.limit = limit
        if epoch != account.epoch:
            account.epoch = epoch
            account.used, account.files = await scan()

    def close(self, account: QuotaAccount) -> None:
        account.sessions -= 1
        if account.sessions <= 0 and self._accounts.get(account.name) is account:
            del self._accounts[account.name]
