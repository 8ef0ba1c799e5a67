"""
Exit codes, and the one place that turns an exception into a message and a code.

test-case-name: tests.unit.test_cli

Public API: the exit codes, as README.md lists them.
"""

from __future__ import annotations

from typing import TextIO

from twisted.internet.error import ConnectError, DNSLookupError

from ftpkit.client.protocol import ConnectionClosed, ProtocolError, RemoteError
from ftpkit.client.tls import TLSConfigError, TLSError
from ftpkit.client.transfers import TransferError

OK = 0
SERVER_ERROR = 1  # the server answered with an error code
USAGE = 2  # bad command line
CONNECTION = 3  # could not connect (TLS verification included), or the connection broke
AUTH = 4  # login refused

_AUTH_CODES = {"auth_failed", "auth_required", "banned", "too_many_sessions"}
# connection-level errors: the server refused or closed the connection itself
_CONNECTION_CODES = {"too_many_connections", "login_timeout", "idle_timeout", "shutting_down"}
_TLS_HINTS = {
    "untrusted": "; if you trust it, give the CA certificate that signed it with --cafile FILE",
    "hostname": "; connect with --host set to a name the certificate lists",
    "handshake": "; is that port serving TLS?",
}


class UsageError(Exception):
    pass


class ConnectFailed(Exception):
    pass


def report(error: BaseException, stderr: TextIO) -> int:
    """Print one line for C{error} on stderr; return the exit code."""
    match error:
        case RemoteError(code=code) if code in _AUTH_CODES:
            print(f"ftpkit: {error.code}: {error.message}", file=stderr)
            return AUTH
        case RemoteError(code=code) if code in _CONNECTION_CODES:
            print(f"ftpkit: {error.code}: {error.message}", file=stderr)
            return CONNECTION
        case RemoteError() | TransferError():
            print(f"ftpkit: {error.code}: {error.message}", file=stderr)
            return SERVER_ERROR
        case UsageError():
            print(f"ftpkit: usage: {error}", file=stderr)
            return USAGE
        case ConnectFailed():
            print(f"ftpkit: connection_failed: {error}", file=stderr)
            return CONNECTION
        case TLSError(reason=reason):
            print(f"ftpkit: tls: {error}{_TLS_HINTS.get(reason, '')}", file=stderr)
            return CONNECTION
        case TLSConfigError():
            print(f"ftpkit: tls: {error}", file=stderr)
            return USAGE
        case ConnectionClosed() | ProtocolError():
            print(f"ftpkit: connection_lost: {error}", file=stderr)
            return CONNECTION
    raise error


def connect_failed(host: str, port: int, error: BaseException) -> ConnectFailed:
    """A one-line reason from Twisted's ConnectError family."""
    if isinstance(error, DNSLookupError):
        reason = "host not found"
    elif isinstance(error, ConnectError):
        reason = (error.osError if isinstance(getattr(error, "osError", None), str)
                  else "") or str(error).strip().rstrip(".").split(": ")[-1]
    else:
        reason = str(error)
    return ConnectFailed(f"cannot connect to {host}:{port}: {reason.lower() or 'failed'}")
