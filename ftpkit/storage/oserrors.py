"""
Operating-system errors a storage operation may meet, as the error codes clients get.

test-case-name: tests.unit.test_session

The jailed filesystem maps the errors it expects, naming the path. This is the
net beneath it: an OSError that still reaches the session (a read-only or
immutable directory met by a commit's rename, a staging directory the server may
not write, a rename across a mount made inside a home, a disk that filled up in
a step that does not map it) is answered with a clear code and logged in one
line, instead of internal_error and a traceback.

Public API: none (internal).
"""

from __future__ import annotations

import errno
import os

from ftpkit.protocol.errors import CommandError, ErrorCode

_CODES: dict[int, ErrorCode] = {
    errno.EACCES: ErrorCode.PERMISSION_DENIED,
    errno.EPERM: ErrorCode.PERMISSION_DENIED,
    errno.EROFS: ErrorCode.PERMISSION_DENIED,
    errno.EXDEV: ErrorCode.PERMISSION_DENIED,  # a rename across a mount inside a home
    errno.ENOSPC: ErrorCode.STORAGE_FULL,
    errno.EDQUOT: ErrorCode.STORAGE_FULL,
    errno.EFBIG: ErrorCode.STORAGE_FULL,
}


def storage_error(error: BaseException | None) -> CommandError | None:
    """The CommandError for an OSError the storage refused with; None for anything else."""
    if not isinstance(error, OSError) or error.errno not in _CODES:
        return None
    code = _CODES[error.errno]
    what = os.strerror(error.errno).lower()
    if code == ErrorCode.STORAGE_FULL:
        return CommandError(code, f"the server's storage is full ({what}); nothing was stored")
    return CommandError(code, f"the server's storage refused the operation ({what})")
