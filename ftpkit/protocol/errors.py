"""
Stable error codes and the exception that carries one.

test-case-name: tests.unit.test_messages

Public API: L{CommandError}, L{ErrorCode}.
"""

from enum import StrEnum


class ErrorCode(StrEnum):
    """
    Every error code a server may send. Codes are stable: a client may branch on them.
    New codes may be added in any release; docs/protocol.md lists each one.
    """

    BAD_FRAME = "bad_frame"
    FRAME_TOO_LARGE = "frame_too_large"
    BAD_REQUEST = "bad_request"
    UNKNOWN_COMMAND = "unknown_command"
    AUTH_REQUIRED = "auth_required"
    AUTH_FAILED = "auth_failed"
    ALREADY_AUTHENTICATED = "already_authenticated"
    NOT_FOUND = "not_found"
    OUTSIDE_HOME = "outside_home"
    QUOTA_EXCEEDED = "quota_exceeded"
    BAD_PATH = "bad_path"
    NOT_A_DIRECTORY = "not_a_directory"
    IS_A_DIRECTORY = "is_a_directory"
    NOT_EMPTY = "not_empty"
    ALREADY_EXISTS = "already_exists"
    PERMISSION_DENIED = "permission_denied"
    STORAGE_FULL = "storage_full"
    CHECKSUM_MISMATCH = "checksum_mismatch"
    INCOMPLETE = "incomplete"
    ABORTED = "aborted"
    CHANGED = "changed"
    INTERNAL_ERROR = "internal_error"
    # limits and abuse (docs/operations.md, "Limits")
    TOO_MANY_CONNECTIONS = "too_many_connections"
    BANNED = "banned"
    LOGIN_TIMEOUT = "login_timeout"
    IDLE_TIMEOUT = "idle_timeout"
    TOO_MANY_SESSIONS = "too_many_sessions"
    TOO_MANY_TRANSFERS = "too_many_transfers"
    SHUTTING_DOWN = "shutting_down"


class CommandError(Exception):
    """
    Raise this from a command handler to answer the request with an error.

    Public API: plugin commands raise it with one of the L{ErrorCode} values (or a
    new snake_case code of their own) and a message meant for a human.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = str(code)
        self.message = message
