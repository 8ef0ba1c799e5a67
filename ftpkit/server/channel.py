"""
The data channel a transfer command uses: interim answers, data frames both ways,
flow control. Commands see only L{IDataChannel}; the session does the wiring.

test-case-name: tests.unit.test_transfers

Public API: none directly; transfer commands use it as
L{ftpkit.commands.interfaces.IDataChannel}.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred
from zope.interface import implementer

from ftpkit.commands.interfaces import IDataChannel, IDataSink, IDirectSink
from ftpkit.protocol import rawrecv, rawsend
from ftpkit.protocol.errors import CommandError, ErrorCode
from ftpkit.protocol.framing import FrameKind, encode_frame
from ftpkit.protocol.messages import Continue, encode_message
from ftpkit.protocol.rawsend import RawSend, raw_socket, tcp_socket
from ftpkit.threads import ThreadRunner
from ftpkit.transfer import HIGH_WATER, Pauser

MIN_SHARE = 256 * 1024  # the least an upload may hold, however many run

if TYPE_CHECKING:
    from ftpkit.server.session import ServerSession


@implementer(IDataChannel)
class Channel:
    """
    The data channel of one request of one session.

    @ivar bytes: file data moved so far, either way (data frame bodies), for the audit.
    """

    def __init__(self, session: ServerSession, request_id: int) -> None:
        self._session = session
        self._id = request_id
        self._pauser = Pauser(session.pauseFrames, session.resumeFrames)
        self.bytes = 0

    def interim(self, result: dict[str, Any]) -> None:
        self._session.sendMessage(Continue(self._id, result))

    def receive(self, sink: IDataSink) -> None:
        session = self._session
        session.routeData(self._id, _Counted(sink, self))
        if IDirectSink.providedBy(sink) and session.receiving:
            self._receive_direct(sink)

    def _receive_direct(self, sink: Any) -> None:
        """On plain TCP: read the upload's data frames in a thread, straight to C{sink}."""
        session = self._session
        threads = session.factory.wire_threads
        sock_fd = tcp_socket(session.transport)
        remaining = sink.direct_remaining()
        if threads is None or sock_fd is None or not remaining or session.bufferedBytes:
            return
        session.lendReading(lambda: self._start_direct(sink, sock_fd, threads, remaining))

    def _start_direct(self, sink: Any, sock_fd: int, threads: ThreadRunner, remaining: int
                      ) -> None:
        session = self._session

        def took(n: int) -> None:
            self.bytes += n
            sink.direct_taken(n)
            session.touch()

        async def receive() -> None:
            failure = await rawrecv.receive(session, sock_fd, sink.direct_write, remaining,
                                            threads, session.factory.clock, took)
            if failure is not None:
                sink.direct_failed(failure)

        done = Deferred.fromCoroutine(receive())
        sink.direct_running(done)
        done.addErrback(lambda f: session.log.failure("direct receive failed", f))

    def pause(self, reason: Any) -> None:
        self._pauser.pause(reason)

    def resume(self, reason: Any) -> None:
        self._pauser.resume(reason)

    def resume_all(self) -> None:
        """The request is answered: whatever paused reading, reading goes on."""
        self._pauser.resume_all()

    def buffer_share(self) -> int:
        """This upload's share of the server's transfer memory, the others counted."""
        factory = self._session.factory
        others = factory.receiving
        uploads = 1 + len(others) - (self._session in others)
        share: int = factory.policy.transfer_memory // uploads
        return max(MIN_SHARE, min(HIGH_WATER, share))

    def frame_remaining(self) -> int:
        return self._session.dataFrameRemaining

    def send(self, data: bytes) -> None:
        self.bytes += len(data)
        self._session.sendData(data)

    def send_file(self, file_fd: int, start: int, end: int,
                  interim: dict[str, Any] | None) -> Deferred[int] | None:
        """
        Send the continue answer C{interim} (if any) and then bytes [start, end) of the
        file as data frames, with sendfile straight from the file to the socket; None
        when the connection cannot (TLS, say). Fires with C{end} once all is sent.
        """
        session = self._session
        threads = session.factory.wire_threads
        sock_fd = raw_socket(session.transport)
        if sock_fd is None or threads is None:
            return None
        prefix = b"" if interim is None else encode_frame(
            FrameKind.CONTROL, encode_message(Continue(self._id, interim)))
        raw = RawSend.start(sock_fd, file_fd, start, end, prefix)

        def count(position: int) -> int:
            self.bytes += position - start
            return position

        return Deferred.fromCoroutine(_raw_send(session, raw, threads)).addCallback(count)

    def writable(self) -> Deferred[None]:
        return self._session.gate.ready()


async def _raw_send(session: ServerSession, raw: RawSend, threads: ThreadRunner) -> int:
    """The zero-copy send, the session's own frames held back while it runs."""
    session.holdWrites()
    try:
        position = await rawsend.run(raw, threads, session.factory.clock,
                                     lambda: not session.framesStopped,
                                     lambda _: session.touch())
    except OSError as e:  # EPIPE, ECONNRESET: the client went away
        raise CommandError(ErrorCode.ABORTED, f"the client went away: {e.strerror}") from None
    except rawsend.Changed:
        raise CommandError(ErrorCode.CHANGED, "the file changed while it was being sent"
                           ) from None
    finally:
        session.releaseWrites()
    if session.framesStopped:
        raise CommandError(ErrorCode.ABORTED, "the client went away")
    return position


@implementer(IDataSink)
class _Counted:
    """Passes an upload's frames on to its sink, counting their bytes on the channel."""

    def __init__(self, sink: IDataSink, channel: Channel) -> None:
        self._sink = sink
        self._channel = channel

    def data(self, chunk: bytes | memoryview) -> None:
        self._channel.bytes += len(chunk)
        self._sink.data(chunk)

    def end(self, checksum: str | None, abort: bool) -> None:
        self._sink.end(checksum, abort)

    def lost(self) -> None:
        self._sink.lost()
