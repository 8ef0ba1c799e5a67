"""
Per-session limits.

test-case-name: tests.unit.test_session
"""

from attrs import frozen

KiB = 1024
MiB = 1024 * KiB


@frozen
class SessionPolicy:
    """
    @ivar max_frame: the largest frame accepted after login (kind byte included).
    @ivar preauth_max_frame: the largest frame accepted before login.
    @ivar login_failure_delay: seconds before a failed login is answered.
    @ivar max_login_failures: failed logins after which the connection is closed.
    """

    max_frame: int = 1 * MiB
    preauth_max_frame: int = 64 * KiB
    login_failure_delay: float = 1.0
    max_login_failures: int = 3
