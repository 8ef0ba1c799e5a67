"""
Virtual paths: what a user sees of their home. Pure functions; nothing here touches a disk.

test-case-name: tests.unit.test_storage_paths

A virtual path is POSIX-style and absolute from the user's home: "/" is the home
itself, "/a/b" a file or directory beneath it. A canonical one has no ".", "..",
empty component or trailing slash. L{resolve} turns what a client typed into a
canonical path; L{split} accepts only canonical paths, so storage code can trust
every component it is given (never "..", never a "/").

A name is valid when it is non-empty Unicode encodable to UTF-8 (no lone
surrogates), free of control characters (U+0000-U+001F, U+007F-U+009F) and at most
255 UTF-8 bytes; a whole path is at most 4096 UTF-8 bytes. Anything else goes:
"日本語.txt", emoji and spaces are ordinary names. Invalid input raises
C{CommandError(bad_path)}.

Public API: L{ROOT}, L{resolve}, L{split}, L{join}, L{parent}, L{name},
L{is_valid_name}.
"""

from __future__ import annotations

import re

from ftpkit.protocol.errors import CommandError, ErrorCode

ROOT = "/"
# ftpkit's own directory in every home (staged uploads, recorded checksums): no
# path may name it, so users can neither see nor touch it.
RESERVED = ".ftpkit"
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 4096

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _utf8_size(text: str, what: str) -> int:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise CommandError(ErrorCode.BAD_PATH, f"{what} is not valid Unicode") from None


def _check_text(text: str, what: str, limit: int) -> None:
    if _CONTROL.search(text):
        raise CommandError(ErrorCode.BAD_PATH, f"{what} contains a control character")
    if _utf8_size(text, what) > limit:
        raise CommandError(ErrorCode.BAD_PATH, f"{what} is longer than {limit} bytes")


def _check_component(component: str) -> None:
    _check_text(component, "a name", MAX_NAME_BYTES)


def is_valid_name(component: str) -> bool:
    """Whether C{component} may be a file name (one component, not "." or "..")."""
    if component in ("", ".", "..") or "/" in component:
        return False
    try:
        _check_component(component)
    except CommandError:
        return False
    return True


def resolve(cwd: str, path: str) -> str:
    """
    The canonical virtual path C{path} names, read relative to the canonical
    directory C{cwd} (or from the home when it starts with "/"). ".." never climbs
    above "/".

    @raise CommandError: C{bad_path} for an empty or invalid path.
    """
    if not path:
        raise CommandError(ErrorCode.BAD_PATH, "the path is empty")
    _check_text(path, "the path", MAX_PATH_BYTES)
    parts = [] if path.startswith("/") else list(split(cwd))
    for component in path.split("/"):
        if component in ("", "."):
            continue
        _check_component(component)
        if component == "..":
            if parts:
                parts.pop()
        else:
            parts.append(component)
    resolved = from_parts(parts)
    _check_text(resolved, "the resulting path", MAX_PATH_BYTES)
    _check_reserved(parts)
    return resolved


def _check_reserved(parts: tuple[str, ...] | list[str]) -> None:
    if parts and parts[0] == RESERVED:
        raise CommandError(ErrorCode.BAD_PATH, f"'/{RESERVED}' is reserved for ftpkit")


def split(vpath: str) -> tuple[str, ...]:
    """
    The components of canonical C{vpath}: C{()} for "/", C{("a", "b")} for "/a/b".

    @raise CommandError: C{bad_path} unless C{vpath} is canonical and valid.
    """
    if vpath == ROOT:
        return ()
    _check_text(vpath, "the path", MAX_PATH_BYTES)
    parts = tuple(vpath.split("/"))
    if not vpath.startswith("/") or not all(is_valid_name(p) for p in parts[1:]):
        raise CommandError(ErrorCode.BAD_PATH, f"'{vpath}' is not a canonical absolute path")
    _check_reserved(parts[1:])
    return parts[1:]


def from_parts(parts: tuple[str, ...] | list[str]) -> str:
    """The virtual path of components C{parts} (the inverse of L{split})."""
    return "/" + "/".join(parts)


def join(vpath: str, component: str) -> str:
    """
    The path of C{component} inside directory C{vpath}.

    @raise CommandError: C{bad_path} if C{component} is not a single valid name or
        the result is too long.
    """
    if not is_valid_name(component):
        raise CommandError(ErrorCode.BAD_PATH, f"{component!r} is not a valid name")
    joined = from_parts((*split(vpath), component))
    _check_text(joined, "the resulting path", MAX_PATH_BYTES)
    return joined


def parent(vpath: str) -> str:
    """The directory holding C{vpath}; "/" is its own parent."""
    return from_parts(split(vpath)[:-1])


def name(vpath: str) -> str:
    """The last component of C{vpath}; "" for "/"."""
    parts = split(vpath)
    return parts[-1] if parts else ""
