"""
ftpkit-checksum: the checksum and du commands, as an ftpkit plugin.

This module is the whole plugin. Installed as C{ftpkit/plugins/ftpkit_checksum_commands.py}
(no C{__init__.py} beside it: ftpkit owns the package), it is found by
twisted.plugin when the server starts, through the two module-level instances at
the bottom, which provide both C{IPlugin} and C{ICommand}.

Public API: the commands C{checksum} and C{du}, their arguments and results.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ftpkit.commands import Arg, Command, CommandError, ErrorCode, ICommandContext
from ftpkit.commands.files import avatar_of, path_arg
from ftpkit.storage.interfaces import IDownload
from ftpkit.storage.paths import join

ALGORITHMS = ("sha256", "sha512", "sha1", "md5", "blake2b", "sha3_256")
DEFAULT_ALGORITHM = "sha256"
BLOCK = 1 << 20  # bytes read (and hashed) at a time: memory per checksum
PAGE = 1000  # entries asked for per listing call


def _known_algorithm(name: str) -> str | None:
    return None if name in ALGORITHMS else f"must be one of {', '.join(ALGORITHMS)}"


def _digest(download: IDownload, algorithm: str, remember: bool) -> str:
    """Hash the whole file (or use the digest recorded for it). Blocks: in a thread."""
    known: str | None = download.recorded(algorithm)
    if known is not None:
        return known
    hasher = hashlib.new(algorithm, usedforsecurity=False)
    size: int = download.size
    position = 0
    while position < size:
        data: bytes = download.read(position, min(BLOCK, size - position))
        if not data:
            raise CommandError(ErrorCode.CHANGED,
                               f"'{download.path}' shrank while it was being read")
        hasher.update(data)
        position += len(data)
    digest = hasher.hexdigest()
    if remember:
        download.record(algorithm, digest)
    return digest


class Checksum(Command):
    name = "checksum"
    description = "Checksum a file (sha256 unless algorithm= says otherwise)"
    arguments = (
        path_arg(help="the file: relative to the current directory, or absolute from "
                      "the home, where / is the home"),
        Arg("algorithm", required=False, default=DEFAULT_ALGORITHM, check=_known_algorithm,
            help=f"one of {', '.join(ALGORITHMS)} [{DEFAULT_ALGORITHM}]"),
    )

    async def run(self, context: ICommandContext, args: dict[str, Any]) -> dict[str, Any]:
        avatar = avatar_of(context)  # the logged-in user; never None here
        path = avatar.resolve(args["path"])
        algorithm = args["algorithm"]
        download: IDownload = await avatar.storage.open_download(path)
        try:
            # Only the server's transfer algorithm is recorded: a file keeps one
            # digest, and get/put rely on that one.
            digest = await context.threads.run(_digest, download, algorithm,
                                               algorithm == context.config.checksum)
        finally:
            await context.threads.run(download.close)
        return {"path": path, "algorithm": algorithm, "checksum": digest,
                "size": download.size}


class Du(Command):
    name = "du"
    description = "Total the bytes, files and directories under a path (links not followed)"
    arguments = (
        path_arg(required=False, default=".",
                 help="a directory (or a file) [the current directory]"),
    )

    async def run(self, context: ICommandContext, args: dict[str, Any]) -> dict[str, Any]:
        avatar = avatar_of(context)  # the logged-in user; never None here
        storage = avatar.storage
        top = avatar.resolve(args["path"])
        entry = await storage.stat(top)
        if entry.type != "dir":  # a file, a link (never followed) or something else
            return {"path": top, "bytes": entry.size, "files": 1, "dirs": 0}
        size = files = dirs = 0
        todo = [top]  # directories still to list (paths only: memory stays modest)
        while todo:
            directory = todo.pop()
            after: str | None = None
            while True:
                try:
                    entries, more = await storage.list(directory, after, PAGE)
                except CommandError as e:
                    gone = e.code in (ErrorCode.NOT_FOUND, ErrorCode.NOT_A_DIRECTORY,
                                      ErrorCode.OUTSIDE_HOME)
                    if directory != top and gone:
                        break  # removed or replaced since its parent was listed
                    raise
                for item in entries:
                    if item.type == "dir":
                        dirs += 1
                        todo.append(join(directory, item.name))
                    else:  # files count their size; links and the like count as 0
                        files += 1
                        size += item.size
                if not more or not entries:
                    break
                after = entries[-1].name
        return {"path": top, "bytes": size, "files": files, "dirs": dirs}


checksum = Checksum()
du = Du()
