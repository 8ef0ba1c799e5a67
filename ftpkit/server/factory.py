"""
The server factory: holds what every session shares.

test-case-name: tests.unit.test_session

Public API: none (internal).
"""

from __future__ import annotations

from attrs import define, field
from twisted.cred.portal import Portal
from twisted.internet.interfaces import IAddress, IReactorTime
from twisted.internet.protocol import Factory

from ftpkit import __version__
from ftpkit.commands.registry import CommandRegistry
from ftpkit.protocol.messages import PROTOCOL_VERSION, Hello, encode_message
from ftpkit.server.audit import Audit
from ftpkit.server.limits import Gate, Limits
from ftpkit.server.policy import SessionPolicy
from ftpkit.server.session import ServerSession
from ftpkit.server.timeouts import Sweep
from ftpkit.server.turns import Turns
from ftpkit.threads import ThreadRunner

PASSWORD_TURNS = 4  # the default password workers (2), each with one login ready next


@define(eq=False)
class ServerFactory(Factory):
    noisy = False  # sessions log their own start and end
    registry: CommandRegistry
    portal: Portal
    clock: IReactorTime
    threads: ThreadRunner
    policy: SessionPolicy = field(factory=SessionPolicy)
    # Threads that move data frames straight between socket and file (ftpkit.protocol.
    # rawsend, rawrecv), apart from the disk pool so that a client slow to read or to
    # send can never hold up anyone's disk work. None: not used.
    wire_threads: ThreadRunner | None = field(default=None, kw_only=True)
    audit: Audit = field(factory=Audit, kw_only=True)
    limits: Limits = field(factory=Limits, kw_only=True)
    sessions: set[ServerSession] = field(factory=set, init=False)
    receiving: set[ServerSession] = field(factory=set, init=False)  # those with an upload
    gate: Gate = field(init=False)
    sweep: Sweep = field(init=False)  # every session's login and idle timeouts
    # Logins (commands with checks_password) in flight at once; the rest wait their turn.
    password_turns: Turns = field(factory=lambda: Turns(PASSWORD_TURNS), kw_only=True)

    def __attrs_post_init__(self) -> None:
        self.hello = Hello(PROTOCOL_VERSION, f"ftpkit/{__version__}", self.registry.infos())
        self.hello_frame = encode_message(self.hello)  # once: N clients may connect at once
        self.gate = Gate(self.limits, self.clock)
        self.sweep = Sweep(self.clock, self.limits.login_timeout, self.limits.idle_timeout)

    def buildProtocol(self, addr: IAddress | None) -> ServerSession:
        return ServerSession(self)
