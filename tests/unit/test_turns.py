"""Password turns: a few logins in flight at once; the others wait, cheaply, in order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import IUsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from zope.interface import implementer

from ftpkit.server.factory import ServerFactory
from ftpkit.server.turns import Turns
from tests.serverkit import Wire, make_factory


@implementer(ICredentialsChecker)
class HeldChecker:
    """Answers each password check only when the test says."""

    credentialInterfaces = (IUsernamePassword,)

    def __init__(self) -> None:
        self.asked: list[tuple[str, Deferred[str]]] = []

    def requestAvatarId(self, credentials: Any) -> Deferred[str]:
        d: Deferred[str] = Deferred()
        self.asked.append((credentials.username.decode(), d))
        return d

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.asked]


def server(tmp_path: Path, turns: int) -> tuple[ServerFactory, HeldChecker]:
    factory = make_factory(tmp_path)
    factory.password_turns = Turns(turns)
    checker = HeldChecker()
    factory.portal.registerChecker(checker)
    return factory, checker


def connect(tmp_path: Path, factory: ServerFactory, n: int) -> list[Wire]:
    wires = [Wire(tmp_path, factory=factory, peer=f"192.0.2.{i + 1}") for i in range(n)]
    for w in wires:
        w.messages()  # the hello
    return wires


def test_a_login_beyond_the_turns_waits_and_reads_nothing_more(tmp_path: Path) -> None:
    factory, checker = server(tmp_path, 1)
    a, b = connect(tmp_path, factory, 2)
    a.request("login", user="alice", password="alice-pw")
    b.request("login", user="bob", password="bob-pw")
    b.request("pwd")
    assert checker.names == ["alice"]  # bob's password is not even asked about yet
    assert b.transport.producerState == "paused" and b.messages() == []
    checker.asked[0][1].callback("alice")
    assert a.messages()[0]["type"] == "ok"
    assert checker.names == ["alice", "bob"]  # the turn passed on
    checker.asked[1][1].callback("bob")
    login, pwd = b.messages()
    assert (login["type"], pwd["result"]) == ("ok", {"path": "/"})
    assert factory.password_turns.held == 0


def test_turns_pass_first_come_first_served_and_after_a_failed_login(tmp_path: Path) -> None:
    factory, checker = server(tmp_path, 1)
    wires = connect(tmp_path, factory, 3)
    for w, user in zip(wires, ["alice", "bob", "alice"], strict=True):
        w.request("login", user=user, password="x")
    checker.asked[0][1].errback(Failure(UnauthorizedLogin("wrong user name or password")))
    assert checker.names == ["alice"]  # a failure is answered after the delay...
    factory.clock.advance(1)
    assert wires[0].messages()[0]["code"] == "auth_failed"
    assert checker.names == ["alice", "bob"]  # ...and then the next one's turn comes
    checker.asked[1][1].callback("bob")
    assert checker.names == ["alice", "bob", "alice"]


def test_a_waiting_session_that_goes_away_gives_up_its_place(tmp_path: Path) -> None:
    factory, checker = server(tmp_path, 1)
    a, b, c = connect(tmp_path, factory, 3)
    a.request("login", user="alice", password="alice-pw")
    b.request("login", user="bob", password="bob-pw")
    c.request("login", user="alice", password="alice-pw")
    b.session.connectionLost(None)
    checker.asked[0][1].callback("alice")
    assert checker.names == ["alice", "alice"]  # c's, not b's
    checker.asked[1][1].callback("alice")
    assert c.messages()[0]["type"] == "ok"
    assert factory.password_turns.held == 0


def test_a_login_still_waiting_is_closed_at_once_when_the_server_stops(tmp_path: Path) -> None:
    factory, checker = server(tmp_path, 1)
    a, b = connect(tmp_path, factory, 2)
    a.request("login", user="alice", password="alice-pw")
    b.request("login", user="bob", password="bob-pw")
    a.session.shutdown()
    b.session.shutdown()
    assert a.messages() == [] and not a.transport.disconnecting  # its login finishes first
    assert b.messages()[0]["code"] == "shutting_down" and b.transport.disconnecting
    b.session.connectionLost(None)
    checker.asked[0][1].callback("alice")
    assert checker.names == ["alice"]
    assert factory.password_turns.held == 0


def test_turns_count_holders_and_hand_over_without_a_gap() -> None:
    turns = Turns(2)
    came: list[str] = []
    assert turns.take(lambda: came.append("a")) and turns.take(lambda: came.append("b"))
    assert not turns.take(lambda: came.append("c"))
    turns.release()
    assert came == ["c"] and turns.held == 2  # c holds the turn b or a gave up
    turns.release()
    turns.release()
    assert turns.held == 0
