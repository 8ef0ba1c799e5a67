"""
put: a streamed, verified, atomic and resumable upload.

test-case-name: tests.unit.test_transfers

The exchange (docs/protocol.md, "Transfers"): the request names the target and
its size; the server answers `continue` with the offset it already holds and the
checksum of those bytes; the client sends the rest as data frames, then `end`
with the whole file's checksum; the server answers ok once the file is verified,
on disk and in place, or an error (nothing is then visible at the target).

Quota: the space still to come is reserved before any data moves (less the size
of a file being replaced), every byte is charged as it arrives, and data past the
declared size is refused.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from attrs import define, field
from twisted.internet.defer import Deferred, DeferredList
from twisted.python.failure import Failure
from zope.interface import implementer

from ftpkit.auth.avatar import Avatar
from ftpkit.commands.args import Arg
from ftpkit.commands.base import Command
from ftpkit.commands.files import avatar_of, path_arg
from ftpkit.commands.interfaces import ICommandContext, IDataChannel, IDirectSink
from ftpkit.protocol.errors import CommandError, ErrorCode
from ftpkit.storage import checksums, paths
from ftpkit.storage.quota import QuotaAccount
from ftpkit.transfer import BATCH, Buffer, SerialWriter, TokenBucket

# A put sees an administrator's change to the account (disabled, new limit, rescan)
# within this many seconds; `quota` sees it at once.
RECORD_MAX_AGE = 1.0


def _size(n: int) -> str | None:
    return None if n >= 0 else "must be 0 or more"


def user_bucket(context: ICommandContext, account: QuotaAccount) -> TokenBucket | None:
    """The user's shared rate limit, if the server sets one."""
    rate = context.config.user_rate
    if rate is None:
        return None
    if account.bucket is None or account.bucket.rate != rate:
        account.bucket = TokenBucket(rate, context.clock)
    bucket: TokenBucket = account.bucket
    return bucket


@implementer(IDirectSink)
@define
class Receiver:
    """
    Takes an upload's data frames: checks them against the quota, writes them in
    order. They come either through data() on the reactor thread, queued for the disk
    threads, or (plain TCP, no rate limit) through direct_write() in the channel's
    own thread, straight from the socket.
    """

    upload: Any  # LocalUpload
    hasher: checksums.Hasher
    account: QuotaAccount
    channel: IDataChannel
    context: ICommandContext
    expected: int  # bytes still to come
    done: Deferred[str] = field(factory=Deferred)  # fires with the client's checksum
    received: int = 0
    bucket: TokenBucket | None = None
    _writer: SerialWriter = field(init=False)
    _failed: bool = field(default=False, init=False)
    _direct: Deferred[None] | None = field(default=None, init=False)  # a direct run, if any

    def __attrs_post_init__(self) -> None:
        share = self.channel.buffer_share()
        self._writer = SerialWriter(self._write, self.context.threads,
                                    lambda: self.channel.pause("backlog"),
                                    lambda: self.channel.resume("backlog"),
                                    high=share, low=share // 4, batch=min(BATCH, share // 2),
                                    on_failure=self._write_failed)

    def _write_failed(self, failure: Failure) -> None:
        """A disk write failed (disk full, say): stop the upload now, not at its end."""
        self._failed = True
        if not self.done.called:
            self.done.errback(failure)

    def _write(self, chunks: Sequence[Buffer]) -> None:  # in a thread
        for chunk in chunks:
            self.hasher.update(chunk)
        self.upload.append(chunks)

    def data(self, chunk: Buffer) -> None:
        if self._failed:
            return
        if self.received + len(chunk) > self.expected:
            # the frame this piece belongs to is refused whole (docs/protocol.md §9.14)
            excess = self.received + len(chunk) + self.channel.frame_remaining() - self.expected
            free = self.account.free
            if free is not None and excess > free:
                self._fail(CommandError(ErrorCode.QUOTA_EXCEEDED,
                                        "more data than declared, beyond the quota"))
            else:
                self._fail(CommandError(ErrorCode.BAD_REQUEST,
                                        f"more data than the declared {self.upload.size} bytes"))
            return
        self.received += len(chunk)
        self.account.charge(len(chunk))
        self.account.release(len(chunk))
        self._writer.feed(chunk)
        if self.bucket is not None:
            delay = self.bucket.delay(len(chunk))
            if delay > 0:
                self.channel.pause("rate")
                self.context.clock.callLater(delay, self.channel.resume, "rate")

    # -- direct delivery (IDirectSink) ----------------------------------------------

    def direct_remaining(self) -> int:
        return 0 if self.bucket is not None or self._failed else self.expected - self.received

    def direct_write(self, buffers: list[memoryview]) -> None:  # in the channel's thread
        self._write(buffers)

    def direct_taken(self, n: int) -> None:
        self.received += n
        self.account.charge(n)
        self.account.release(n)

    def direct_running(self, done: Deferred[None]) -> None:
        self._direct = done

    def direct_failed(self, error: BaseException) -> None:
        self._write_failed(Failure(error))

    def _settled(self) -> Deferred[Any]:
        """Fires once no write is under way, queued or direct."""
        waits = [self._writer.flush().addErrback(lambda _: None)]
        if self._direct is not None:
            waits.append(self._direct)
        return DeferredList(waits)

    def end(self, checksum: str | None, abort: bool) -> None:
        if self._failed:
            return
        if abort:
            self._fail(CommandError(ErrorCode.ABORTED, "the client stopped the upload; "
                                                       "the data sent is kept for a resume"))
        elif self.received < self.expected:
            total = self.upload.offset + self.received
            self._fail(CommandError(ErrorCode.INCOMPLETE,
                                    f"{total} of {self.upload.size} bytes arrived; put again "
                                    "to resume"))
        else:
            assert checksum is not None
            self._writer.flush().addCallbacks(lambda _: self.done.callback(checksum),
                                              self.done.errback)

    def lost(self) -> None:
        self._fail(CommandError(ErrorCode.ABORTED, "the connection was lost"))

    def _fail(self, error: CommandError) -> None:
        self._failed = True
        if not self.done.called:
            # let writes under way finish before the caller closes or discards the file
            self._settled().addBoth(
                lambda _: None if self.done.called else self.done.errback(error))


class Put(Command):
    name = "put"
    transfer = True  # counts towards [limits] max_transfers_per_user
    description = "Upload a file: streamed, verified by checksum, atomic and resumable"
    arguments = (
        path_arg(help="where to store the file; an existing directory takes it inside, "
                      "under 'name'"),
        Arg("size", "int", check=_size, help="the file's size in bytes"),
        Arg("name", "str", required=False, help="the file's own name, used when 'path' "
                                                "is a directory"),
        Arg("restart", "bool", required=False, default=False,
            help="discard any staged data and start from byte 0"),
        Arg("algorithm", "str", required=False, help="checksum algorithm [the server's]"),
    )

    async def run(self, context: ICommandContext, args: dict[str, Any]) -> dict[str, Any]:
        avatar = avatar_of(context)
        algorithm = args["algorithm"] or context.config.checksum
        checksums.new_hasher(algorithm)  # refuse an unknown algorithm before anything else
        await avatar.refresh_quota(max_age=RECORD_MAX_AGE)
        account = avatar.quota
        await self._sweep(context, avatar)
        upload, freed = await self._start(avatar, args, frozenset(account.uploads))
        target = upload.path
        account.charge(-freed)
        account.uploads.add(upload.id)
        reserved = 0
        receiver: Receiver | None = None
        try:
            remaining = upload.size - upload.offset
            account.ensure_room(remaining - upload.replacing)
            account.reserve(remaining)
            reserved = remaining
            hasher = checksums.new_hasher(algorithm)
            if upload.offset:
                await context.threads.run(upload.hash_prefix, hasher)
            prefix = hasher.copy().hexdigest() if upload.offset else None
            receiver = Receiver(upload, hasher, account, context.channel, context, remaining,
                                bucket=user_bucket(context, account))
            context.channel.receive(receiver)
            context.channel.interim({"path": target, "offset": upload.offset,
                                     "prefix_checksum": prefix, "algorithm": algorithm,
                                     "max_data_frame": context.config.max_frame - 1})
            try:
                claimed = await receiver.done
            finally:
                reserved -= receiver.received
            digest = hasher.hexdigest()
            if claimed.lower() != digest:
                raise CommandError(ErrorCode.CHECKSUM_MISMATCH,
                                   f"the server's {algorithm} of what it stored is {digest}, "
                                   f"not {claimed}; nothing was stored")
            final, replaced = await context.threads.run(upload.commit, algorithm, digest)
        except Exception as e:
            resumable = isinstance(e, CommandError) and e.code in (ErrorCode.ABORTED,
                                                                  ErrorCode.INCOMPLETE)
            if receiver is not None and not resumable:  # data moved and is no good: drop it
                await context.threads.run(upload.discard)
                account.charge(-(upload.offset + receiver.received))
            elif receiver is None and upload.offset == 0:  # refused at once: nothing to keep
                await context.threads.run(upload.discard)
            raise
        finally:
            account.release(reserved)
            account.uploads.discard(upload.id)
            if not upload.closed:
                await context.threads.run(upload.close)
        account.charge(0, 1)
        if replaced is not None and replaced.type != "dir":
            account.charge(-replaced.size, -1)
        return {"path": final, "size": upload.size, "checksum": digest,
                "algorithm": algorithm, "resumed_from": upload.offset}

    @staticmethod
    async def _start(avatar: Avatar, args: dict[str, Any], busy: frozenset[str]) -> Any:
        """Stage the upload at 'path', or inside it under 'name' if it is a directory."""
        target = avatar.resolve(args["path"])
        start = avatar.storage.start_upload
        try:  # one trip to the disk in the usual case, a file's path
            return await start(target, args["size"], args["restart"], busy)
        except CommandError as e:
            if e.code != ErrorCode.IS_A_DIRECTORY:
                raise
            if not args["name"]:
                raise CommandError(ErrorCode.IS_A_DIRECTORY,
                                   f"'{target}' is a directory; give the file's 'name'") from None
        return await start(paths.join(target, args["name"]), args["size"], args["restart"], busy)

    @staticmethod
    async def _sweep(context: ICommandContext, avatar: Avatar) -> None:
        """Expire the user's abandoned staged uploads, crediting their bytes."""
        freed = await avatar.storage.sweep_uploads(time.time() - context.config.partial_ttl,
                                                   frozenset(avatar.quota.uploads))
        avatar.quota.charge(-freed)
