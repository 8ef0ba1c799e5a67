"""
Server-wide limits: connections in total and per IP, sessions and transfers per
user, and per-IP bans after repeated failed logins.

test-case-name: tests.unit.test_limits

The session asks the L{Gate} before it admits a connection, checks a password,
accepts a login or starts a transfer, and tells it when each ends. Time comes
from an injected clock, so tests drive bans with L{twisted.internet.task.Clock}.
Loopback is not special: a benchmark raises the limits in its own config.

Public API: none (the limits are configured in the C{[limits]} section; see
docs/operations.md).
"""

from __future__ import annotations

from collections import deque

from attrs import define, field, frozen
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime

from ftpkit.protocol.errors import CommandError, ErrorCode

BAN_TABLE_SIZE = 100_000  # IPs tracked at most; the oldest are forgotten first


@frozen
class Limits:
    """
    @ivar max_connections: connections open at once, in total.
    @ivar max_connections_per_ip: connections open at once from one IP address.
    @ivar login_timeout: seconds a connection may stay without a login (from its
        start, or from a logout).
    @ivar idle_timeout: seconds without a byte moving either way after which a
        session is closed (a transfer making progress is not idle).
    @ivar max_sessions_per_user: logged-in sessions of one user at once.
    @ivar max_transfers_per_user: puts and gets of one user running at once.
    @ivar ban_failures: failed logins from one IP, within C{ban_window} seconds,
        that ban it for C{ban_duration} seconds.
    @ivar shutdown_grace: seconds a stopping server lets transfers under way finish.
    """

    max_connections: int = 1000
    max_connections_per_ip: int = 50
    login_timeout: float = 30.0
    idle_timeout: float = 600.0
    max_sessions_per_user: int = 16
    max_transfers_per_user: int = 4
    ban_failures: int = 10
    ban_window: float = 600.0
    ban_duration: float = 600.0
    shutdown_grace: float = 30.0


@define
class _Failures:
    times: deque[float] = field(factory=deque)
    banned_until: float = 0.0


@define
class _Total:
    """A count, and who waits for it to be zero."""

    count: int = 0
    _waiting: list[Deferred[None]] = field(factory=list)

    def add(self, n: int) -> None:
        self.count += n
        if not self.count:
            waiting, self._waiting = self._waiting, []
            for d in waiting:
                d.callback(None)

    def zero(self) -> Deferred[None]:
        if not self.count:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._waiting.append(d)
        return d


@define(eq=False)
class Gate:
    """The counters and the ban table every session of one server shares."""

    limits: Limits
    clock: IReactorTime
    _connections: _Total = field(factory=_Total, init=False)
    _per_ip: dict[str, int] = field(factory=dict, init=False)
    _failures: dict[str, _Failures] = field(factory=dict, init=False)
    _sessions: dict[str, int] = field(factory=dict, init=False)
    _transfers: dict[str, int] = field(factory=dict, init=False)
    _transfers_total: _Total = field(factory=_Total, init=False)

    # -- connections -----------------------------------------------------------

    def admit(self, ip: str) -> tuple[ErrorCode, str] | None:
        """Count a new connection from C{ip}, or say why it is refused (then not counted)."""
        if self.banned(ip):
            return ErrorCode.BANNED, "too many failed logins from this address; try later"
        if self.connections >= self.limits.max_connections:
            return (ErrorCode.TOO_MANY_CONNECTIONS,
                    f"the server has its maximum of {self.limits.max_connections} connections")
        if self._per_ip.get(ip, 0) >= self.limits.max_connections_per_ip:
            return (ErrorCode.TOO_MANY_CONNECTIONS, "this address has its maximum of "
                    f"{self.limits.max_connections_per_ip} connections")
        self._connections.add(1)
        self._per_ip[ip] = self._per_ip.get(ip, 0) + 1
        return None

    def release(self, ip: str) -> None:
        """An admitted connection from C{ip} has closed."""
        self._connections.add(-1)
        _decrement(self._per_ip, ip)

    @property
    def connections(self) -> int:
        """Connections admitted and not yet closed."""
        return self._connections.count

    def no_connections(self) -> Deferred[None]:
        """Fires once every admitted connection has closed (at once if none is open)."""
        return self._connections.zero()

    # -- failed logins ----------------------------------------------------------

    def banned(self, ip: str) -> bool:
        entry = self._failures.get(ip)
        return entry is not None and entry.banned_until > self.clock.seconds()

    def login_failed(self, ip: str) -> bool:
        """Record a failed login from C{ip}; True if that bans it."""
        now = self.clock.seconds()
        entry = self._failures.pop(ip, None) or _Failures()
        self._failures[ip] = entry  # most recently failed last: evicted last
        while entry.times and entry.times[0] <= now - self.limits.ban_window:
            entry.times.popleft()
        entry.times.append(now)
        if len(entry.times) >= self.limits.ban_failures:
            entry.times.clear()
            entry.banned_until = now + self.limits.ban_duration
        while len(self._failures) > BAN_TABLE_SIZE:
            del self._failures[next(iter(self._failures))]
        return entry.banned_until > now

    @property
    def tracked_ips(self) -> int:
        return len(self._failures)

    # -- users --------------------------------------------------------------------

    def open_session(self, user: str) -> None:
        """Count a login of C{user}, or raise CommandError(too_many_sessions)."""
        _take(self._sessions, user, self.limits.max_sessions_per_user,
              ErrorCode.TOO_MANY_SESSIONS, "sessions")

    def close_session(self, user: str) -> None:
        _decrement(self._sessions, user)

    def start_transfer(self, user: str) -> None:
        """Count a transfer of C{user}, or raise CommandError(too_many_transfers)."""
        _take(self._transfers, user, self.limits.max_transfers_per_user,
              ErrorCode.TOO_MANY_TRANSFERS, "transfers running")
        self._transfers_total.add(1)

    def end_transfer(self, user: str) -> None:
        _decrement(self._transfers, user)
        self._transfers_total.add(-1)

    @property
    def transfers(self) -> int:
        """Transfers running now, over all users."""
        return self._transfers_total.count

    def no_transfers(self) -> Deferred[None]:
        """Fires once no transfer is running (at once if none is)."""
        return self._transfers_total.zero()


def _take(counts: dict[str, int], user: str, limit: int, code: ErrorCode, what: str) -> None:
    if counts.get(user, 0) >= limit:
        raise CommandError(code, f"{user!r} already has the maximum of {limit} {what}")
    counts[user] = counts.get(user, 0) + 1


def _decrement(counts: dict[str, int], key: str) -> None:
    left = counts.get(key, 0) - 1
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)
