"""
Per-session limits.

test-case-name: tests.unit.test_session

Public API: L{SessionPolicy}'s attributes, read-only, as C{context.config}.
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
    @ivar user_rate: bytes per second across all of one user's transfers, or None.
    @ivar partial_ttl: seconds an idle staged upload is kept before it expires.
    @ivar checksum: the whole-file checksum algorithm transfers use by default.
    @ivar transfer_memory: bytes of upload data that all uploads together may hold in
        memory on their way to disk; each upload's share is this divided among the
        uploads under way (between 256 KiB and 4 MiB). Past its share, an upload's
        client is paused.
    """

    max_frame: int = 1 * MiB
    preauth_max_frame: int = 64 * KiB
    login_failure_delay: float = 1.0
    max_login_failures: int = 3
    user_rate: int | None = None  # bytes/s across all of a user's transfers; None: no limit
    partial_ttl: float = 24 * 3600.0  # seconds an idle staged upload is kept for resume
    checksum: str = "blake3"  # the algorithm transfers are verified with
    transfer_memory: int = 64 * MiB  # upload data all sessions together may hold in memory
