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

from ftpkit.commands.interfaces import IDataChannel, IDataSink
from ftpkit.protocol.messages import Continue
from ftpkit.transfer import Pauser

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
        self._session.routeData(self._id, _Counted(sink, self))

    def pause(self, reason: Any) -> None:
        self._pauser.pause(reason)

    def resume(self, reason: Any) -> None:
        self._pauser.resume(reason)

    def resume_all(self) -> None:
        """The request is answered: whatever paused reading, reading goes on."""
        self._pauser.resume_all()

    def send(self, data: bytes) -> None:
        self.bytes += len(data)
        self._session.sendData(data)

    def writable(self) -> Deferred[None]:
        return self._session.gate.ready()


@implementer(IDataSink)
class _Counted:
    """Passes an upload's frames on to its sink, counting their bytes on the channel."""

    def __init__(self, sink: IDataSink, channel: Channel) -> None:
        self._sink = sink
        self._channel = channel

    def data(self, chunk: bytes) -> None:
        self._channel.bytes += len(chunk)
        self._sink.data(chunk)

    def end(self, checksum: str | None, abort: bool) -> None:
        self._sink.end(checksum, abort)

    def lost(self) -> None:
        self._sink.lost()
