r"""
One client connection: decodes requests, runs commands in order, answers.

test-case-name: tests.unit.test_session

State machine (docs/protocol.md, "Session states")::

    connected --login ok--> authenticated --logout--> connected
        |  \--N failed logins--> closed          |
        \--quit / bad frame--> closed <----------/

Requests are handled one at a time, in order. While a command runs, frame
delivery pauses, which also stops reading from the socket: a client cannot queue
unbounded work.

Public API: none directly; commands see it through L{ICommandContext} and
L{ISessionControl}.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from attrs import frozen
from twisted.cred.credentials import UsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.error import ConnectionLost
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from ftpkit.auth.avatar import Avatar, IAvatar
from ftpkit.commands.args import validate_args
from ftpkit.commands.interfaces import ICommandContext, IDataSink, ISessionControl
from ftpkit.protocol.errors import CommandError, ErrorCode
from ftpkit.protocol.framing import FrameReceiver
from ftpkit.protocol.messages import (
    End,
    ErrorReply,
    Message,
    MessageError,
    Request,
    Success,
    decode_message,
    encode_message,
)
from ftpkit.server.channel import Channel
from ftpkit.server.policy import SessionPolicy
from ftpkit.storage.oserrors import storage_error
from ftpkit.transfer import WriteGate

if TYPE_CHECKING:
    from ftpkit.server.factory import ServerFactory

LINGER = 5.0  # seconds a timed-out session has to take its error before it is cut


@implementer(ICommandContext)
@frozen
class CommandContext:
    avatar: Avatar | None
    session: ISessionControl
    registry: Any
    clock: Any
    threads: Any
    log: Logger
    peer: str
    channel: Channel
    config: SessionPolicy


@implementer(ISessionControl)
class ServerSession(FrameReceiver):
    __slots__ = ("factory", "policy", "avatar", "_logout_avatar", "_failures", "_busy",
                 "_pending", "_close_after_reply", "peer", "gate", "_channel", "_sink",
                 "_sink_id", "_draining", "_held", "ip", "_admitted", "_session_user",
                 "transfers", "_shutting_down", "_linger", "_watch", "_awaiting_turn",
                 "_holds_turn")
    log = Logger()

    def __init__(self, factory: ServerFactory) -> None:
        super().__init__()
        self.factory = factory
        self.policy = factory.policy
        self.MAX_LENGTH = self.policy.preauth_max_frame
        self.avatar: Avatar | None = None
        self._logout_avatar: Any = None
        self._failures = 0
        self._busy = False
        self._pending: Request | None = None
        self._close_after_reply = False
        self.peer = "-"
        self.gate = WriteGate()
        self._channel: Channel | None = None
        self._sink: IDataSink | None = None  # receives the running upload's data
        self._sink_id: int | None = None
        self._draining: int | None = None  # a failed upload whose data is still arriving
        self._held: list[bytes] | None = None  # frames written while a raw send runs
        self.ip = "-"
        self._admitted = False  # counted by the factory's gate
        self._session_user: str | None = None  # counted in the gate's sessions per user
        self.transfers = 0  # transfers of this session running (0 or 1)
        self._shutting_down = False
        self._linger: Any = None  # cuts a timed-out connection that does not take its error
        self._watch = factory.sweep.watch(self._timed_out)
        self._awaiting_turn: Request | None = None  # a login waiting for a password check
        self._holds_turn = False  # of the factory's password turns (ftpkit.server.turns)

    # -- connection ---------------------------------------------------------

    def connectionMade(self) -> None:
        peer = self.transport.getPeer()
        self.peer = f"{getattr(peer, 'host', peer)}:{getattr(peer, 'port', '')}".rstrip(":")
        self.ip = str(getattr(peer, "host", peer))
        refused = self.factory.gate.admit(self.ip)
        if refused is not None:
            self._fatal(*refused)
            return
        self._admitted = True
        self._watch.start()
        self.factory.sessions.add(self)
        self.tuneTransport()
        self.transport.registerProducer(self.gate, True)
        self.log.info("session start peer={peer}", peer=self.peer)
        self.sendControl(self.factory.hello_frame)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.stopFrames()
        self._watch.stop()
        if self._linger is not None and self._linger.active():
            self._linger.cancel()
        if self._admitted:
            self._admitted = False
            self.factory.gate.release(self.ip)
        self.factory.sessions.discard(self)
        if self._awaiting_turn is not None:
            self._awaiting_turn = None
            self.factory.password_turns.cancel(self._turn_came)
        self.gate.lost(ConnectionLost("the client went away"))
        sink = self._sink
        self._set_sink(None)
        if sink is not None:
            sink.lost()
        self._end_login()
        self.log.info("session end peer={peer}", peer=self.peer)

    def dataReceived(self, data: bytes) -> None:
        self._watch.touch()
        super().dataReceived(data)

    def sendData(self, body: bytes) -> None:
        self._watch.touch()
        super().sendData(body)

    def touch(self) -> None:
        """Bytes moved outside the transport (a zero-copy send): the session is not idle."""
        self._watch.touch()

    def _timed_out(self, code: ErrorCode, message: str) -> None:
        self._fatal(code, message)
        # a client that does not read never lets the error out: do not wait for it
        self._linger = self.factory.clock.callLater(LINGER, self.transport.abortConnection)

    def shutdown(self) -> None:
        """The server is stopping: close now if idle, else after the running command."""
        if self._busy and self._awaiting_turn is None:
            self._close_after_reply = self._shutting_down = True
        elif not self.framesStopped:  # idle, or a login still waiting for its turn
            self._fatal(ErrorCode.SHUTTING_DOWN, "the server is shutting down")

    def sendMessage(self, message: Message) -> None:
        self.sendControl(encode_message(message))

    def sendParts(self, parts: list[bytes]) -> None:
        if self._held is not None:
            self._held.extend(parts)  # a raw send owns the socket: after it, in order
        else:
            super().sendParts(parts)

    def holdWrites(self) -> None:
        """A raw send (ftpkit.protocol.rawsend) starts: keep frames back until it ends."""
        self._held = []

    def releaseWrites(self) -> None:
        held, self._held = self._held, None
        if held:
            self.transport.writeSequence(held)

    def _fatal(self, code: ErrorCode, message: str) -> None:
        self.log.warn("closing peer={peer}: {code} {message}", peer=self.peer, code=code.value,
                      message=message)
        self.sendMessage(ErrorReply(None, code, message))
        self.stopFrames()
        self.transport.loseConnection()

    # -- frames -------------------------------------------------------------

    def lengthLimitExceeded(self, length: int) -> None:
        self._fatal(ErrorCode.FRAME_TOO_LARGE,
                    f"frame of {length} bytes exceeds the limit of {self.MAX_LENGTH} bytes")

    def frameError(self, reason: str) -> None:
        self._fatal(ErrorCode.BAD_FRAME, reason)

    def dataPieceReceived(self, piece: bytes | memoryview, last: bool) -> None:
        if self._sink is not None:
            self._sink.data(piece)
        elif self._draining is None:
            self._fatal(ErrorCode.BAD_FRAME, "data frame outside a transfer")

    @property
    def receiving(self) -> bool:
        """An upload's data is being routed to its sink."""
        return self._sink is not None

    def routeData(self, request_id: int, sink: IDataSink) -> None:
        """Send data frames and the end message of upload C{request_id} to C{sink}."""
        if self.framesStopped:  # the client went away while the upload was starting
            sink.lost()
            return
        if self._pending is not None:  # the client did not wait for the continue
            self._fatal(ErrorCode.BAD_FRAME, "a request arrived before the end of an upload")
            sink.lost()
            return
        self._set_sink(sink)
        self._sink_id = request_id

    def _set_sink(self, sink: IDataSink | None) -> None:
        """Route data to C{sink} (None: to no one), counted in the factory's C{receiving}."""
        self._sink = sink
        if sink is None:
            self.factory.receiving.discard(self)
        else:
            self.factory.receiving.add(self)

    def _end_received(self, end: End) -> None:
        if self._sink is not None and end.id == self._sink_id:
            sink = self._sink
            self._set_sink(None)
            sink.end(end.checksum, end.abort)
        elif self._draining is not None and end.id == self._draining:
            self._draining = None  # the rest of a failed upload is behind us
        else:
            self._fatal(ErrorCode.BAD_FRAME, f"end for {end.id}, which is not an upload "
                                             "under way")

    def controlReceived(self, body: bytes) -> None:
        try:
            message = decode_message(body)
        except MessageError as e:
            self._fatal(ErrorCode.BAD_FRAME, str(e))
            return
        if isinstance(message, End):
            self._end_received(message)
            return
        if not isinstance(message, Request):
            self._fatal(ErrorCode.BAD_FRAME, "a client may only send requests and ends")
            return
        if self._sink is not None or self._draining is not None:
            self._fatal(ErrorCode.BAD_FRAME, "a request arrived before the end of an upload")
            return
        if self._busy:
            self._pending = message
            self.pauseFrames()
            return
        self._dispatch_in_turn(message)

    # -- commands -----------------------------------------------------------

    def _dispatch_in_turn(self, request: Request) -> None:
        """Dispatch, unless the command checks a password and must wait for a turn."""
        command = self.factory.registry.get(request.command)
        if getattr(command, "checks_password", False):
            if not self.factory.password_turns.take(self._turn_came):
                self._busy = True  # nothing else from this session before it
                self._awaiting_turn = request
                self.pauseFrames()
                return
            self._holds_turn = True
        self._dispatch(request)

    def _turn_came(self) -> None:
        request, self._awaiting_turn = self._awaiting_turn, None
        assert request is not None
        self._holds_turn = True
        self._dispatch(request)

    def _dispatch(self, request: Request) -> None:
        self._busy = True
        started = self.factory.clock.seconds()
        d = maybeDeferred(self._run, request)
        d.addCallbacks(
            lambda result: self._reply(request, started, Success(request.id, result)),
            lambda failure: self._reply(request, started, self._error_for(request, failure)),
        )

    def _run(self, request: Request) -> Deferred[Any] | Any:
        command = self.factory.registry.get(request.command)
        if command is None:
            raise CommandError(ErrorCode.UNKNOWN_COMMAND, f"no command {request.command!r}")
        if command.requires_login and self.avatar is None:
            raise CommandError(ErrorCode.AUTH_REQUIRED, f"{request.command!r} needs a login")
        args = validate_args(command.arguments, request.args)
        if getattr(command, "transfer", False) and self.avatar is not None:
            user = self.avatar.name
            self.factory.gate.start_transfer(user)
            self.transfers += 1
            d = maybeDeferred(command.run, self._context(request), args)
            d.addBoth(self._transfer_ended, user)
        else:
            d = maybeDeferred(command.run, self._context(request), args)
        return d.addCallback(self._check_result, request.command)

    def _transfer_ended(self, result: Any, user: str) -> Any:
        self.transfers -= 1
        self.factory.gate.end_transfer(user)
        return result

    @staticmethod
    def _check_result(result: Any, command: str) -> dict[str, Any]:
        if result is None:
            return {}
        if not isinstance(result, dict):
            raise TypeError(f"command {command!r} returned {type(result).__name__}, not a dict")
        encode_message(Success(0, result))  # fail here, not half-way through a reply
        return result

    def _context(self, request: Request) -> CommandContext:
        f = self.factory
        self._channel = Channel(self, request.id)
        return CommandContext(self.avatar, self, f.registry, f.clock, f.threads, self.log,
                              self.peer, self._channel, self.policy)

    def _error_for(self, request: Request, failure: Failure) -> ErrorReply:
        error = failure.value
        if isinstance(error, CommandError):
            return ErrorReply(request.id, error.code, error.message)
        mapped = storage_error(error)
        if mapped is not None:
            self.log.warn("command {command} failed user={user} peer={peer}: {code} ({error})",
                          command=request.command, user=self._user, peer=self.peer,
                          code=mapped.code, error=error)
            return ErrorReply(request.id, mapped.code, mapped.message)
        self.log.failure("command {command} failed user={user} peer={peer}", failure,
                         command=request.command, user=self._user, peer=self.peer)
        return ErrorReply(request.id, ErrorCode.INTERNAL_ERROR,
                          "the server failed to carry out the command; see its log")

    def _reply(self, request: Request, started: float, reply: Success | ErrorReply) -> None:
        if self._holds_turn:
            self._holds_turn = False
            self.factory.password_turns.release()
        outcome = "ok" if isinstance(reply, Success) else reply.code
        self.log.info(
            "command {command} id={id} user={user} peer={peer} -> {outcome} ({ms:.1f} ms)",
            command=request.command, id=request.id, user=self._user, peer=self.peer,
            outcome=outcome, ms=(self.factory.clock.seconds() - started) * 1000,
        )
        self.factory.audit.record(request, reply, self._user, self.peer,
                                  self.factory.clock.seconds() - started, self._channel)
        if self.framesStopped and not self._close_after_reply:
            return  # the connection is already going away
        self.sendMessage(reply)
        self._busy = False
        if self._sink is not None and self._sink_id == request.id:
            self._set_sink(None)  # answered before its end: drop data until the end comes
            self._draining = request.id
        channel, self._channel = self._channel, None
        if channel is not None:
            channel.resume_all()
        if self._close_after_reply:
            if self._shutting_down:
                self.sendMessage(ErrorReply(None, ErrorCode.SHUTTING_DOWN,
                                            "the server is shutting down"))
            self.stopFrames()
            self.transport.loseConnection()
            return
        pending, self._pending = self._pending, None
        if pending is not None:
            self._dispatch_in_turn(pending)
        else:
            self.resumeFrames()

    @property
    def _user(self) -> str:
        return self.avatar.name if self.avatar is not None else "-"

    # -- ISessionControl ----------------------------------------------------

    def login(self, username: str, password: str) -> Deferred[Avatar]:
        if self.avatar is not None:
            raise CommandError(ErrorCode.ALREADY_AUTHENTICATED,
                               f"already logged in as {self.avatar.name!r}; log out first")
        if self.factory.gate.banned(self.ip):  # before any password is checked
            self.log.warn("login refused peer={peer}: banned", peer=self.peer)
            self._close_after_reply = True
            raise CommandError(ErrorCode.BANNED, "too many failed logins from this address; "
                                                 "try later")
        credentials = UsernamePassword(username.encode(), password.encode())
        d: Deferred[tuple[Any, Avatar, Any]] = self.factory.portal.login(
            credentials, None, IAvatar)
        return d.addCallbacks(self._logged_in, self._login_failed, errbackArgs=(username,))

    def _logged_in(self, result: tuple[Any, Avatar, Any]) -> Avatar:
        _, avatar, logout = result
        if self.framesStopped:  # the client left while we checked
            logout()
            raise CommandError(ErrorCode.AUTH_FAILED, "connection closed")
        try:
            self.factory.gate.open_session(avatar.name)
        except CommandError as e:
            logout()
            self.log.warn("login refused user={user} peer={peer}: {why}", user=avatar.name,
                          peer=self.peer, why=e.code)
            raise
        self._session_user = avatar.name
        self._watch.logged_in()
        self.avatar, self._logout_avatar = avatar, logout
        self._failures = 0
        self.MAX_LENGTH = self.policy.max_frame
        self.log.info("login ok user={user} peer={peer}", user=avatar.name, peer=self.peer)
        return avatar

    def _login_failed(self, failure: Failure, username: str) -> Deferred[Avatar]:
        if not failure.check(UnauthorizedLogin):
            failure.raiseException()  # internal_error, logged
        self._failures += 1
        last = self._failures >= self.policy.max_login_failures
        if self.factory.gate.login_failed(self.ip):
            self.log.warn("banned ip={ip} for {s:g} s: too many failed logins", ip=self.ip,
                          s=self.factory.limits.ban_duration)
            last = True
        self.log.info("login failed user={user!r} peer={peer} attempt={n}", user=username,
                      peer=self.peer, n=self._failures)
        message = "wrong user name or password"
        if last:
            message += "; too many failed attempts, closing the connection"
            self._close_after_reply = True

        def refuse() -> Avatar:
            raise CommandError(ErrorCode.AUTH_FAILED, message)

        return deferLater(self.factory.clock, self.policy.login_failure_delay, refuse)

    def logout(self) -> None:
        self._end_login()
        self.MAX_LENGTH = self.policy.preauth_max_frame
        if not self._close_after_reply:
            self._watch.logged_out()

    def _end_login(self) -> None:
        user, self._session_user = self._session_user, None
        if user is not None:
            self.factory.gate.close_session(user)
        logout, self._logout_avatar = self._logout_avatar, None
        self.avatar = None
        if logout is not None:
            logout()

    def closeAfterReply(self) -> None:
        self._close_after_reply = True
