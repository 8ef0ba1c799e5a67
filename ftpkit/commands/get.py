"""
get: a streamed, verified and resumable download.

test-case-name: tests.unit.test_transfers

The request names the file, and for a resume the offset the client holds and the
version it got then. The server answers `continue` with the size, the offset it
will send from (0 when the file changed since), the version, and the checksum if
it knows it already; then data frames; then ok with the whole file's checksum.
Reading and hashing run in a thread, one chunk ahead of the socket, and only
while the client keeps up: memory per download is a couple of chunks.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.error import ConnectionLost

from ftpkit.commands.args import Arg
from ftpkit.commands.base import Command
from ftpkit.commands.files import avatar_of, path_arg
from ftpkit.commands.interfaces import ICommandContext
from ftpkit.commands.put import user_bucket
from ftpkit.fileio import hash_range
from ftpkit.protocol.errors import CommandError, ErrorCode
from ftpkit.storage import checksums
from ftpkit.transfer import pump, read_block, sleep


def _offset(n: int) -> str | None:
    return None if n >= 0 else "must be 0 or more"


class Get(Command):
    name = "get"
    transfer = True  # counts towards [limits] max_transfers_per_user
    description = "Download a file: streamed, verified by checksum and resumable"
    arguments = (
        path_arg(),
        Arg("offset", "int", required=False, default=0, check=_offset,
            help="resume: the bytes the client already holds"),
        Arg("version", "str", required=False, help="resume: the version from the earlier "
                                                   "attempt; a changed file restarts at 0"),
        Arg("algorithm", "str", required=False, help="checksum algorithm [the server's]"),
    )

    async def run(self, context: ICommandContext, args: dict[str, Any]) -> dict[str, Any]:
        avatar = avatar_of(context)
        algorithm = args["algorithm"] or context.config.checksum
        checksums.new_hasher(algorithm)
        target = avatar.resolve(args["path"])
        download = await avatar.storage.open_download(target)
        try:
            size, version = download.size, download.version
            offset = args["offset"]
            if offset and (args["version"] != version or offset > size):
                offset = 0  # changed since, or never ours: start over
            known = await context.threads.run(download.recorded, algorithm)
            hasher = None if known else checksums.new_hasher(algorithm)
            bucket = user_bucket(context, avatar.quota)
            interim = {"path": target, "size": size, "offset": offset, "version": version,
                       "checksum": known, "algorithm": algorithm}

            def changed() -> Exception:
                return CommandError(ErrorCode.CHANGED,
                                    f"'{target}' changed while it was being sent")

            def read(start: int) -> list[bytes]:  # in a thread
                if hasher is not None and start == offset and offset:
                    _hash_range(download, hasher, 0, offset)
                return read_block(lambda n, at: download.read(at, n), hasher, start, size,
                                  changed)

            async def send(chunks: list[bytes], position: int) -> None:
                for data in chunks:
                    try:
                        await context.channel.writable()
                    except ConnectionLost:
                        raise CommandError(ErrorCode.ABORTED, "the client went away") from None
                    context.channel.send(data)
                    if bucket is not None and (delay := bucket.delay(len(data))) > 0:
                        await sleep(context.clock, delay)

            # Nothing to hash, no pacing: the kernel can move the bytes itself.
            zero_copy = context.channel.send_file(download.fileno(), offset, size, interim) \
                if known is not None and bucket is None else None
            if zero_copy is not None:
                await zero_copy
            else:
                context.channel.interim(interim)
                await pump(context.threads, read, offset, size, send)
            if known is not None:
                digest = known
            else:
                assert hasher is not None
                if offset and offset == size:  # nothing was read: hash what the client has
                    await context.threads.run(_hash_range, download, hasher, 0, offset)
                digest = hasher.hexdigest()
                await context.threads.run(download.record, algorithm, digest)
        finally:
            await context.threads.run(download.close)
        return {"path": target, "size": size, "checksum": digest, "algorithm": algorithm}


def _hash_range(download: Any, hasher: checksums.Hasher, start: int, end: int) -> None:
    hash_range(download.fileno(), hasher, start, end, lambda: CommandError(
        ErrorCode.CHANGED, "the file changed while it was being read"))
