"""
The client library: connect, log in, call commands.

test-case-name: tests.unit.test_client

    client = await Client.connect(reactor, "tcp:127.0.0.1:8021")
    await client.login("alice", "secret")
    print(await client.commands())
    await client.quit()

Every method returns a Deferred. No globals: the reactor is passed in.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import clientFromString, connectProtocol
from twisted.internet.interfaces import IStreamClientEndpoint

from ftpkit.client.protocol import ClientProtocol
from ftpkit.protocol.messages import CommandInfo, Hello


class Client:
    def __init__(self, protocol: ClientProtocol, hello: Hello) -> None:
        self.protocol = protocol
        self.hello = hello

    @classmethod
    def connect(cls, reactor: Any, endpoint: IStreamClientEndpoint | str) -> Deferred[Client]:
        """Connect and wait for the server's hello."""
        if isinstance(endpoint, str):
            endpoint = clientFromString(reactor, endpoint)
        protocol = ClientProtocol()

        async def connected() -> Client:
            await connectProtocol(endpoint, protocol)
            hello = await protocol.hello
            return cls(protocol, hello)

        return Deferred.fromCoroutine(connected())

    def command_info(self, name: str) -> CommandInfo | None:
        return next((c for c in self.hello.commands if c.name == name), None)

    def call(self, command: str, **args: Any) -> Deferred[dict[str, Any]]:
        """Call any command by name; fires with its result dict."""
        return self.protocol.call(command, args)

    def login(self, user: str, password: str) -> Deferred[dict[str, Any]]:
        return self.call("login", user=user, password=password)

    def logout(self) -> Deferred[dict[str, Any]]:
        return self.call("logout")

    def commands(self) -> Deferred[list[dict[str, Any]]]:
        return self.call("commands").addCallback(lambda r: r["commands"])

    def quit(self) -> Deferred[dict[str, Any]]:
        return self.call("quit")

    def close(self) -> None:
        self.protocol.transport.loseConnection()
