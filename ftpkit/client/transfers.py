"""
The client's half of put and get: streamed, verified, resumable.

test-case-name: tests.unit.test_transfers

Files are read and written in a thread, one chunk ahead; memory stays at a few
chunks whatever the file's size. Progress goes to a callback, never to a screen.
A download lands in C{.NAME.ftpkit-part} beside its target, with a C{.json} note
of the version it came from, and is renamed into place once its checksum matches
the server's; running the same get again resumes it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from ftpkit.client.protocol import ClientProtocol, ConnectionClosed, RemoteError
from ftpkit.fileio import BufferPool, hash_range, read_exactly, write_all
from ftpkit.protocol import rawrecv, rawsend
from ftpkit.storage import checksums
from ftpkit.transfer import (
    CHUNK,
    Buffer,
    Pauser,
    SerialWriter,
    TokenBucket,
    pump,
    read_block,
    sleep,
)

if TYPE_CHECKING:
    from ftpkit.client.api import Client

Progress = Callable[[int, int], None]  # (bytes done, total)
# Frames of direct uploads are read into these, each given back once sent: uploads
# at once hold a buffer only while a frame is under way (the kernel takes most at
# once), and a process's later uploads reuse the memory the first ones touched.
FRAME_BUFFERS = BufferPool()
Result = dict[str, Any]


class TransferError(Exception):
    """A transfer failed on this side (the local file, or a checksum)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _interim_or_failure(final: Deferred[Result]) -> Deferred[Result]:
    """A Deferred for the 'continue' answer that fails if the final answer comes first."""
    interim: Deferred[Result] = Deferred()

    def early(failure: Failure) -> Failure | None:
        if not interim.called:
            interim.errback(failure)  # the error is reported there, once
            return None
        return failure

    final.addErrback(early)
    return interim


async def upload(client: Client, local: Path, remote: str, progress: Progress | None = None,
                 rate: float | None = None, restart: bool = False) -> Result:
    """Put C{local} at C{remote}; the server's result plus C{resumed_from}."""
    try:
        size = (await client.threads.run(os.stat, local)).st_size
        result = await _upload_once(client, local, remote, size, progress, rate, restart)
        if result is None:  # the staged prefix differs from the local file: start over
            result = await _upload_once(client, local, remote, size, progress, rate, True)
            assert result is not None
            result["restarted"] = True
    except OSError as e:  # the local side: connection trouble arrives as ConnectionClosed
        raise local_error(local, e, "read") from None
    return result


async def _upload_once(client: Client, local: Path, remote: str, size: int,
                       progress: Progress | None, rate: float | None, restart: bool
                       ) -> Result | None:
    protocol = client.protocol
    interim_box: list[Deferred[Result]] = []

    def on_interim(result: Result) -> None:
        interim_box[0].callback(result)

    final = protocol.call("put", {"path": remote, "size": size, "name": local.name,
                                  "restart": restart}, interim=on_interim)
    rid = protocol.last_id
    interim_box.append(_interim_or_failure(final))
    info = await interim_box[0]
    offset = int(info["offset"])
    hasher = checksums.new_hasher(info["algorithm"])
    fd = await client.threads.run(os.open, local, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if offset:
            await client.threads.run(_hash_fd, fd, hasher, offset)
            if hasher.copy().hexdigest() != info.get("prefix_checksum"):
                protocol.send_end(rid, abort=True)
                with suppress(RemoteError):
                    await final
                return None

        def read(position: int) -> list[bytes]:  # in a thread
            return read_block(lambda n, at: os.pread(fd, n, at), hasher, position, size,
                              lambda: TransferError("changed",
                                                    f"{local} changed while it was being sent"))

        bucket = TokenBucket(rate, client.reactor) if rate else None
        if progress:
            progress(offset, size)

        async def send(chunks: list[bytes], position: int) -> bool:
            if final.called:  # the server stopped us early
                return False
            done = position - sum(len(c) for c in chunks)
            for data in chunks:
                await protocol.gate.ready()
                protocol.sendData(data)
                done += len(data)
                if progress:
                    progress(done, size)
                if bucket is not None and (delay := bucket.delay(len(data))) > 0:
                    await sleep(client.reactor, delay)
            return True

        position = offset
        frame = int(info.get("max_data_frame", CHUNK))
        raw = None if bucket is not None else _send_direct(protocol, fd, offset, size, hasher,
                                                           frame)
        if raw is not None:  # frames go straight to the socket while the server keeps up
            try:
                position = await rawsend.run(
                    raw, client.threads, client.reactor, lambda: not final.called,
                    (lambda at: progress(at, size)) if progress else None)
            except rawsend.Changed:
                raise TransferError("changed", f"{local} changed while it was being sent"
                                    ) from None
            except OSError as e:
                raise ConnectionClosed(f"the connection failed: {e.strerror}") from None
        if position < size and not final.called:
            await pump(client.threads, read, position, size, send)
        if final.called:  # the server stopped us early; its error follows
            protocol.send_end(rid, abort=True)
        else:
            protocol.send_end(rid, hasher.hexdigest())
        result = await final
    except BaseException:
        if not final.called:
            protocol.send_end(rid, abort=True)
        final.addErrback(lambda _: None)  # the error raised here is the one reported
        raise
    finally:
        await client.threads.run(os.close, fd)
    result["resumed_from"] = offset
    return result


def _send_direct(protocol: ClientProtocol, fd: int, offset: int, size: int,
                 hasher: checksums.Hasher, frame: int) -> rawsend.RawSend | None:
    """
    A direct upload of [offset, size): each frame read into one buffer, hashed and
    sent from there, in a thread. None if the transport is not plain TCP.
    """
    sock_fd = rawsend.raw_socket(protocol.transport)
    if sock_fd is None:
        return None
    frame = max(1, min(frame, rawsend.FRAME))

    def read_frame(position: int, length: int) -> memoryview:  # in a thread
        body = read_exactly(fd, FRAME_BUFFERS.take(frame)[:length], position,
                            lambda: rawsend.Changed("the file is shorter than it was"))
        hasher.update(body)
        return body

    return rawsend.RawSend.start(sock_fd, fd, offset, size, b"", read=read_frame,
                                 release=FRAME_BUFFERS.give, frame=frame)


def _hash_fd(fd: int, hasher: checksums.Hasher, end: int) -> None:
    hash_range(fd, hasher, 0, end,
               lambda: TransferError("changed", "the local file is shorter than before"))


def partial_paths(local: Path) -> tuple[Path, Path]:
    part = local.with_name(f".{local.name}.ftpkit-part")
    return part, part.with_name(part.name + ".json")


def _read_note(note: Path, part: Path) -> tuple[int, str | None]:
    try:
        version = json.loads(note.read_text())["version"]
        return part.stat().st_size, str(version)
    except (OSError, ValueError, KeyError, TypeError):
        return 0, None


def local_error(local: Path, error: OSError, doing: str) -> TransferError:
    """A local file that cannot be read or written, as one line."""
    return TransferError("local_error", f"cannot {doing} {local}: {error.strerror or error}")


async def download(client: Client, remote: str, local: Path, progress: Progress | None = None,
                   rate: float | None = None) -> Result:
    """Get C{remote} into C{local}; the server's result plus C{resumed_from}."""
    try:
        return await _download(client, remote, local, progress, rate)
    except OSError as e:  # the local side: connection trouble arrives as ConnectionClosed
        raise local_error(local, e, "write") from None


async def _download(client: Client, remote: str, local: Path, progress: Progress | None,
                    rate: float | None) -> Result:
    part, note = partial_paths(local)
    held, version = await client.threads.run(_read_note, note, part)
    fd = await client.threads.run(os.open, part, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                                  0o666)  # umask applies
    protocol = client.protocol
    interim_box: list[Deferred[Result]] = []
    state: dict[str, Any] = {"fd": fd}

    args: dict[str, Any] = {"path": remote, "offset": held if version else 0}
    if version:
        args["version"] = version
    final = protocol.call("get", args, interim=lambda r: _start_download(
        client, r, part, note, progress, rate, state, interim_box))
    interim_box.append(_interim_or_failure(final))
    try:
        info = await interim_box[0]
        result = await final
        writer: SerialWriter = state["writer"]
        await writer.flush()
    except (ConnectionClosed, OSError):
        if "failure" in state:  # we closed the connection: the local error is the news
            raise state["failure"] from None
        raise
    finally:
        protocol.data_sink = None
        protocol.cancelLend()
        if "direct" in state:  # a direct run writes to the file until it is over
            try:
                await state["direct"]
            except Exception as e:  # not expected; reported rather than lost
                state.setdefault("failure", e)
        if "pauser" in state:
            state["pauser"].resume_all()
        await client.threads.run(_close_synced, fd)
    if "failure" in state:
        raise state["failure"]
    digest = state["hasher"].hexdigest()
    if digest != result["checksum"]:
        await client.threads.run(_remove, part, note)
        raise TransferError("checksum_mismatch",
                            f"the data received does not match the server's "
                            f"{info['algorithm']} {result['checksum']}; the partial file was "
                            "removed, get again to retry")
    await client.threads.run(_finish, part, note, local)
    result["resumed_from"] = info["offset"]
    return result


def _start_download(client: Client, info: Result, part: Path, note: Path,
                    progress: Progress | None, rate: float | None, state: dict[str, Any],
                    interim_box: list[Deferred[Result]]) -> None:
    """Called on 'continue': prepare the partial file and route data frames to it."""
    protocol = client.protocol
    offset, size = int(info["offset"]), int(info["size"])
    hasher = checksums.new_hasher(info["algorithm"])
    fd = state["fd"]

    def fail(error: BaseException) -> None:
        """The local file cannot be written: a get cannot be stopped but by closing."""
        if "failure" not in state:
            state["failure"] = error
            protocol.transport.loseConnection()

    try:
        note.write_text(json.dumps({"path": info["path"], "version": info["version"],
                                    "size": size}))
        os.ftruncate(fd, offset)  # a changed file restarts at 0; drop any stray tail
    except OSError as e:
        fail(e)
    prefix = [offset]

    def write(chunks: Sequence[Buffer]) -> None:  # in a thread, in order
        if prefix[0]:
            _hash_fd(fd, hasher, prefix[0])
            prefix[0] = 0
        os.lseek(fd, 0, os.SEEK_END)
        for chunk in chunks:
            hasher.update(chunk)
        write_all(fd, chunks)

    pauser = Pauser(protocol.pauseFrames, protocol.resumeFrames)
    writer = SerialWriter(write, client.threads, lambda: pauser.pause("backlog"),
                          lambda: pauser.resume("backlog"),
                          on_failure=lambda failure: fail(cast(BaseException, failure.value)))
    bucket = TokenBucket(rate, client.reactor) if rate else None
    done = [offset]

    def sink(chunk: Buffer) -> None:
        if "failure" in state:
            return  # the local file failed: what still arrives is dropped
        writer.feed(chunk)
        done[0] += len(chunk)
        if progress:
            progress(done[0], size)
        if bucket is not None and (delay := bucket.delay(len(chunk))) > 0:
            pauser.pause("rate")
            client.reactor.callLater(delay, pauser.resume, "rate")

    state.update(hasher=hasher, writer=writer, pauser=pauser)
    if offset == size:  # nothing more will come: hash what we hold
        writer.feed(b"")
    protocol.data_sink = sink
    if bucket is None and offset < size and "failure" not in state:
        def taken(n: int) -> None:
            done[0] += n
            if progress:
                progress(done[0], size)

        _receive_direct(client, writer, write, lambda: size - done[0], taken, fail, state)
    if progress:
        progress(offset, size)
    interim_box[0].callback(info)


def _receive_direct(client: Client, writer: SerialWriter,
                    write: Callable[[list[memoryview]], None], remaining: Callable[[], int],
                    taken: Callable[[int], None], fail: Callable[[BaseException], None],
                    state: dict[str, Any]) -> None:
    """
    On plain TCP: once the framing has delivered what it holds and C{writer} has
    written it, read the download's data frames in a thread, straight to C{write}.
    """
    protocol = client.protocol
    if rawsend.tcp_socket(protocol.transport) is None:
        return

    def start(flushed: object) -> None:
        sock_fd = rawsend.tcp_socket(protocol.transport)
        if isinstance(flushed, Failure) or sock_fd is None or remaining() <= 0 \
                or protocol.framesStopped or "failure" in state:
            protocol.reclaimReading(b"", protocol.dataFrameRemaining)
            return
        state["direct"] = Deferred.fromCoroutine(_direct(client, sock_fd, write, remaining(),
                                                         taken, fail))

    def lent() -> None:
        writer.flush().addBoth(start)

    protocol.lendReading(lent)


async def _direct(client: Client, sock_fd: int, write: Callable[[list[memoryview]], None],
                  remaining: int, taken: Callable[[int], None],
                  fail: Callable[[BaseException], None]) -> None:
    failure = await rawrecv.receive(client.protocol, sock_fd, write, remaining, client.threads,
                                    client.reactor, taken)
    if failure is not None:
        fail(failure)


def _close_synced(fd: int) -> None:
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(*files: Path) -> None:
    for f in files:
        with suppress(FileNotFoundError):
            f.unlink()


def _finish(part: Path, note: Path, local: Path) -> None:
    os.replace(part, local)
    with suppress(FileNotFoundError):
        note.unlink()
    fd = os.open(local.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
