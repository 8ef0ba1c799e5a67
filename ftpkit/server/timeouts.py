"""
A session's two clocks: the login timeout and the idle timeout.

test-case-name: tests.unit.test_limits

The login timeout runs from the connection's start (and again from a logout)
until a login succeeds; it cuts clients that connect and trickle. The idle
timeout fires when no byte has moved either way for C{idle} seconds: reading or
sending anything, a transfer's data included, is activity, so a transfer making
progress is never idle, while a client that stops reading stalls its download
and is cut. Activity costs one clock reading; the timer is rearmed only when it
fires, never per byte. A timeout of 0 turns that timer off.

Public API: none (internal to the session).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IDelayedCall, IReactorTime

from ftpkit.protocol.errors import ErrorCode

Expire = Callable[[ErrorCode, str], None]


class Watchdog:
    def __init__(self, clock: IReactorTime, login: float, idle: float, expire: Expire) -> None:
        self._clock = clock
        self._login = login
        self._idle = idle
        self._expire = expire
        self.last_active = clock.seconds()
        self._login_call: IDelayedCall | None = None
        self._idle_call: IDelayedCall | None = None

    def start(self) -> None:
        self.logged_out()
        if self._idle > 0:
            self._idle_call = self._clock.callLater(self._idle, self._check_idle)

    def touch(self) -> None:
        """Something moved: the session is not idle."""
        self.last_active = self._clock.seconds()

    def logged_in(self) -> None:
        _cancel(self._login_call)
        self._login_call = None

    def logged_out(self) -> None:
        _cancel(self._login_call)
        self._login_call = None
        if self._login > 0:
            self._login_call = self._clock.callLater(self._login, self._login_expired)

    def stop(self) -> None:
        _cancel(self._login_call)
        _cancel(self._idle_call)
        self._login_call = self._idle_call = None

    def _login_expired(self) -> None:
        self._login_call = None
        self._expire(ErrorCode.LOGIN_TIMEOUT, f"no login within {self._login:g} s")

    def _check_idle(self) -> None:
        left = self.last_active + self._idle - self._clock.seconds()
        if left > 0:
            self._idle_call = self._clock.callLater(left, self._check_idle)
            return
        self._idle_call = None
        self._expire(ErrorCode.IDLE_TIMEOUT, f"nothing moved for {self._idle:g} s")


def _cancel(call: Any) -> None:
    if call is not None and call.active():
        call.cancel()
