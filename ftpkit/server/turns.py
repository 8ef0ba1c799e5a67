"""
Turns: at most a few password-checking commands in flight; the rest wait their turn.

test-case-name: tests.unit.test_turns

A login holds a dozen objects while it waits for a password worker (the parsed
request, its command context, the Deferreds of Cred and the thread pool). When a
thousand clients log in at once, that is about 8 KiB each, and the heap keeps that
high-water mark: measured here, 7.4 KiB of RSS per idle session after 1000 logins at
once, 2.3 after the same logins a few at a time. A session whose login must wait
keeps only its request and stops reading; what it sends meanwhile stays in the
kernel's socket buffer.

Public API: none (internal).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable


class Turns:
    """At most C{limit} holders at once; the others wait, first come, first served."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._waiting: deque[Callable[[], None]] = deque()

    def take(self, when_free: Callable[[], None]) -> bool:
        """True: a turn now. False: C{when_free()} is called when one passes to it."""
        if self.held < self.limit:
            self.held += 1
            return True
        self._waiting.append(when_free)
        return False

    def cancel(self, when_free: Callable[[], None]) -> None:
        """A waiter that no longer wants its turn (its connection went away)."""
        try:
            self._waiting.remove(when_free)
        except ValueError:
            pass

    def release(self) -> None:
        """A holder is done: its turn passes to the first waiter, if any."""
        if self._waiting:
            self._waiting.popleft()()
        else:
            self.held -= 1
