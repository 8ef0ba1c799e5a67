"""
A session's two clocks: the login timeout and the idle timeout.

test-case-name: tests.unit.test_limits

The login timeout runs from the connection's start (and again from a logout)
until a login succeeds; it cuts clients that connect and trickle. The idle
timeout fires when no byte has moved either way for C{idle} seconds: reading or
sending anything, a transfer's data included, is activity, so a transfer making
progress is never idle, while a client that stops reading stalls its download
and is cut. Activity costs one clock reading. A timeout of 0 turns it off.

No session has a timer of its own: one L{Sweep} per server looks at every
session's deadlines once a L{TICK}, so a timeout fires up to a tick late, and a
thousand idle sessions cost one timer, not two thousand (a Twisted timer is
about 300 bytes, and each session's memory counts).

Public API: none (internal to the session).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IReactorTime

from ftpkit.protocol.errors import ErrorCode

Expire = Callable[[ErrorCode, str], None]
TICK = 1.0  # seconds between looks at the deadlines


class Sweep:
    """Checks the watchdogs of a server's sessions, one timer for all."""

    def __init__(self, clock: IReactorTime, login: float, idle: float,
                 tick: float = TICK) -> None:
        self.clock = clock
        self.login = login
        self.idle = idle
        self._tick = tick
        self._watched: set[Watchdog] = set()
        self._call: Any = None

    def watch(self, expire: Expire) -> Watchdog:
        return Watchdog(self, expire)

    def _add(self, dog: Watchdog) -> None:
        self._watched.add(dog)
        if self._call is None:
            self._call = self.clock.callLater(self._tick, self._look)

    def _remove(self, dog: Watchdog) -> None:
        self._watched.discard(dog)
        if not self._watched and self._call is not None:
            if self._call.active():
                self._call.cancel()
            self._call = None

    def _look(self) -> None:
        self._call = None
        now = self.clock.seconds()
        for dog in list(self._watched):  # expiring one may end (and remove) it
            dog.check(now)
        if self._watched and self._call is None:
            self._call = self.clock.callLater(self._tick, self._look)


class Watchdog:
    """One session's deadlines, looked at by its server's L{Sweep}."""

    __slots__ = ("_sweep", "_expire", "last_active", "_login_by")

    def __init__(self, sweep: Sweep, expire: Expire) -> None:
        self._sweep = sweep
        self._expire = expire
        self.last_active = sweep.clock.seconds()
        self._login_by: float | None = None

    def start(self) -> None:
        self.last_active = self._sweep.clock.seconds()
        self.logged_out()
        if self._sweep.idle > 0 or self._sweep.login > 0:
            self._sweep._add(self)

    def touch(self) -> None:
        """Something moved: the session is not idle."""
        self.last_active = self._sweep.clock.seconds()

    def logged_in(self) -> None:
        self._login_by = None

    def logged_out(self) -> None:
        login = self._sweep.login
        self._login_by = self._sweep.clock.seconds() + login if login > 0 else None

    def stop(self) -> None:
        self._login_by = None
        self._sweep._remove(self)

    def check(self, now: float) -> None:
        sweep = self._sweep
        if self._login_by is not None and now >= self._login_by:
            self.stop()
            self._expire(ErrorCode.LOGIN_TIMEOUT, f"no login within {sweep.login:g} s")
        elif sweep.idle > 0 and now >= self.last_active + sweep.idle:
            self.stop()
            self._expire(ErrorCode.IDLE_TIMEOUT, f"nothing moved for {sweep.idle:g} s")
