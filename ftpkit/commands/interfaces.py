"""
The public interfaces a command is written against.

test-case-name: tests.unit.test_registry

Public API (stable): L{ICommand}, L{ICommandContext}, L{ISessionControl}; with
L{ftpkit.commands.args.Arg} and L{ftpkit.protocol.errors.CommandError}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from zope.interface import Attribute, Interface


class ICommand(Interface):
    """
    One command the server understands. Providers are found as plugins (see
    docs/plugins.md); each is a module-level instance providing both
    L{twisted.plugin.IPlugin} and L{ICommand}.
    """

    name = Attribute("str: the name clients call, lower case, [a-z][a-z0-9_-]*")
    description = Attribute("str: one line, shown by 'ftpkit commands'")
    requires_login = Attribute("bool: refuse with auth_required before login")
    arguments = Attribute(
        "tuple of ftpkit.commands.args.Arg: the arguments the command accepts. The server "
        "validates a request against them before run() is called."
    )

    def run(context: ICommandContext, args: dict[str, object]) -> object:
        """
        Carry out the command.

        @param context: the session's L{ICommandContext}.
        @param args: the validated arguments, defaults filled in.
        @return: a Deferred (or a plain value) firing with a JSON-serialisable dict,
            the result sent to the client. Raise or fail with
            L{ftpkit.protocol.errors.CommandError} to answer with an error code;
            any other exception is answered with C{internal_error} and logged.
        """


class ISessionControl(Interface):
    """What a command may do to its session (login, logout, quit)."""

    def login(username: str, password: str) -> object:
        """
        Authenticate through the portal. Fires with the new avatar, or fails with
        CommandError(auth_failed) after the failure delay.
        """

    def logout() -> None:
        """End the authenticated part of the session; the connection stays open."""

    def closeAfterReply() -> None:
        """Close the connection once the current reply has been sent."""


class IDataSink(Interface):
    """Receives an upload's data frames and its end, on the reactor thread."""

    def data(chunk: bytes | memoryview) -> None:
        """
        The next bytes of the upload, in order: a whole data frame or part of one
        (the framing hands file data on as it arrives, without copying it). The
        object is immutable and may be kept.
        """

    def end(checksum: str | None, abort: bool) -> None:
        """The client's end message; no data follows it."""

    def lost() -> None:
        """The connection closed before the end."""


class IDirectSink(IDataSink):
    """
    A sink that can also take data frames' bytes straight from the socket, in a
    thread: on plain TCP the channel then reads the client itself (no copy and no
    hand-off per read). Frames it does not take that way still go to data().
    """

    def direct_remaining() -> int:
        """Data bytes still expected, or 0 to refuse direct delivery (rate limits, say)."""

    def direct_write(buffers: list[memoryview]) -> None:
        """
        Blocking, in a thread, one call at a time, in order: the next bytes of the
        upload. They are valid only during the call: hash or write them, do not keep
        them. An exception ends direct delivery; the channel reports it to
        direct_failed().
        """

    def direct_taken(n: int) -> None:
        """On the reactor thread: direct_write() has taken C{n} more bytes."""

    def direct_running(done: Deferred[None]) -> None:
        """
        Direct delivery has started; C{done} (a Deferred) fires when it is over. No
        direct_write() runs after it has fired, so close the file only then.
        """

    def direct_failed(error: BaseException) -> None:
        """direct_write() raised C{error}; everything else still comes to data()."""


class IDataChannel(Interface):
    """What a transfer command uses to move file data (see docs/plugins.md)."""

    def interim(result: dict[str, object]) -> None:
        """Send a 'continue' answer: the transfer may go ahead, on these terms."""

    def receive(sink: IDataSink) -> None:
        """Route the client's data frames and end message to C{sink}."""

    def pause(reason: object) -> None:
        """Stop reading the client (back-pressure) until resume(reason)."""

    def resume(reason: object) -> None:
        """Undo pause(reason); reading goes on when no reason is left."""

    def buffer_share() -> int:
        """
        Bytes of an upload's data this transfer may hold in memory before pausing
        its client: the server's transfer memory shared among the uploads under way.
        """

    def frame_remaining() -> int:
        """
        While a sink's data() runs: the bytes of the same data frame still to come
        after this piece (a frame can arrive in several pieces).
        """

    def send_file(file_fd: int, start: int, end: int, interim: dict[str, object] | None
                  ) -> Any:
        """
        Send the C{interim} (continue) answer if given, then bytes [start, end) of an
        open file as data frames, with no copy through Python (sendfile). Returns None
        when the connection cannot do this (TLS, say): then nothing was sent.
        Otherwise a Deferred firing with C{end} once everything is sent; it fails
        with CommandError (aborted) if the client goes away, (changed) if the file
        shrinks meanwhile.
        """

    def send(data: bytes) -> None:
        """Send one data frame (at most a few hundred KiB)."""

    def writable() -> object:
        """
        A Deferred firing when the client can take more data; it fails if the
        connection is lost. Await it before each send().
        """


class ICommandContext(Interface):
    """Everything a command handler may use. Handlers touch nothing else."""

    avatar = Attribute(
        "ftpkit.auth.avatar.Avatar or None: the logged-in user (never None for a "
        "command with requires_login); its storage and quota are reached through it"
    )
    session = Attribute("ISessionControl: login, logout and quit")
    registry = Attribute("ftpkit.commands.registry.CommandRegistry: the server's commands")
    clock = Attribute("IReactorTime: for delays and timestamps")
    threads = Attribute("ftpkit.threads.Threads: run blocking work off the reactor thread")
    log = Attribute("twisted.logger.Logger: the server log")
    peer = Attribute("str: the client's address, for logs")
    channel = Attribute("IDataChannel: file data to and from the client, for transfers")
    config = Attribute("ftpkit.server.policy.SessionPolicy: the server's limits")
