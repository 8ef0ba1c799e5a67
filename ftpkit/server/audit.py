"""
Audit records: one per file operation, written when the session answers it.

test-case-name: tests.unit.test_audit

A record says who (user, peer) did what (operation, path, dst) with what
outcome (result: "ok" or the error code), how much file data it moved (bytes:
the data frames of the request, either way) and how long it took. Records are
twisted.logger events in the L{AUDIT_NAMESPACE} namespace; ftpkit.server.logs
decides where they are written.

Public API: none (the record's fields are documented in docs/operations.md).
"""

from __future__ import annotations

from typing import Any

from attrs import field, frozen
from twisted.logger import Logger

from ftpkit.protocol.messages import ErrorReply, Request, Success

AUDIT_NAMESPACE = "ftpkit.audit"
AUDIT_FIELDS = ("time", "user", "peer", "operation", "path", "dst", "bytes", "result",
                "duration_ms")

# Commands that touch no file and change nothing: not audited.
NOT_AUDITED = frozenset({"commands", "pwd", "quota", "logout", "quit"})


def _path(request: Request, reply: Success | ErrorReply, key: str) -> str | None:
    """The path the server resolved, when it answered; else the one the client gave."""
    for source in ((reply.result if isinstance(reply, Success) else {}), request.args):
        value = source.get(key)
        if isinstance(value, str):
            return value
    return None


@frozen
class Audit:
    log: Logger = field(factory=lambda: Logger(namespace=AUDIT_NAMESPACE))

    def record(self, request: Request, reply: Success | ErrorReply, user: str, peer: str,
               elapsed: float, channel: Any) -> None:
        """
        Write the record of C{request}, answered with C{reply} after C{elapsed}
        seconds; C{channel} is its data channel (with a C{bytes} count) or None.
        """
        if request.command in NOT_AUDITED:
            return
        if request.command == "login":  # who tried, whether or not it worked
            user = str(request.args.get("user", user))
        src = "src" if request.command == "mv" else "path"
        self.log.info(
            "audit {operation} user={user} peer={peer} path={path} dst={dst} bytes={bytes} "
            "-> {result} ({duration_ms} ms)",
            user=user, peer=peer, operation=request.command, path=_path(request, reply, src),
            dst=_path(request, reply, "dst") if request.command == "mv" else None,
            bytes=getattr(channel, "bytes", 0),
            result="ok" if isinstance(reply, Success) else str(reply.code),
            duration_ms=round(elapsed * 1000, 1))
