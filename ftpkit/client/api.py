"""
The client library: connect, log in, call commands.

test-case-name: tests.unit.test_client

    client = await Client.connect(reactor, "tcp:127.0.0.1:8021")
    # or, over TLS: Client.connect(reactor, "tcp:files.example.org:8990",
    #                              tls=client_tls("files.example.org"))
    await client.login("alice", "secret")
    async for entry in client.ls_all("/"):
        print(entry["name"])
    await client.quit()

Every method returns a Deferred (or, for ls_all, an async iterator). No globals:
the reactor is passed in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred, TimeoutError
from twisted.internet.endpoints import clientFromString, connectProtocol, wrapClientTLS
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator, IStreamClientEndpoint

from ftpkit.client import transfers
from ftpkit.client.protocol import ClientProtocol
from ftpkit.client.transfers import Progress
from ftpkit.protocol.messages import CommandInfo, Hello
from ftpkit.threads import ThreadRunner, Threads

Result = dict[str, Any]
HELLO_TIMEOUT = 10.0  # seconds; a server sends its hello as soon as the connection is made


class NoHello(Exception):
    """The server did not send its hello in time (a TLS port, to a plain client?)."""


class Client:
    def __init__(self, protocol: ClientProtocol, hello: Hello, reactor: Any,
                 threads: ThreadRunner | None = None) -> None:
        self.protocol = protocol
        self.hello = hello
        self.reactor = reactor
        self.threads = threads if threads is not None else Threads(reactor,
                                                                   reactor.getThreadPool())

    @classmethod
    def connect(cls, reactor: Any, endpoint: IStreamClientEndpoint | str,
                tls: IOpenSSLClientConnectionCreator | None = None,
                timeout: float = HELLO_TIMEOUT) -> Deferred[Client]:
        """
        Connect and wait for the server's hello. With C{tls} (see
        L{ftpkit.client.tls.client_tls}) the connection is TLS, and a certificate
        that does not verify fails it with L{TLSError}. No hello within C{timeout}
        seconds (a server speaking TLS to a plain client, say) fails it with
        L{NoHello}.
        """
        target: IStreamClientEndpoint = (clientFromString(reactor, endpoint)
                                         if isinstance(endpoint, str) else endpoint)
        if tls is not None:
            target = wrapClientTLS(tls, target)
        protocol = ClientProtocol()

        async def connected() -> Client:
            await connectProtocol(target, protocol)
            try:
                hello = await protocol.hello.addTimeout(timeout, reactor)
            except TimeoutError:
                protocol.transport.abortConnection()
                raise NoHello(f"the server sent no hello within {timeout:g} s") from None
            return cls(protocol, hello, reactor)

        return Deferred.fromCoroutine(connected())

    def command_info(self, name: str) -> CommandInfo | None:
        return next((c for c in self.hello.commands if c.name == name), None)

    def call(self, command: str, **args: Any) -> Deferred[Result]:
        """Call any command by name; fires with its result dict."""
        return self.protocol.call(command, args)

    # -- session ------------------------------------------------------------

    def login(self, user: str, password: str) -> Deferred[Result]:
        return self.call("login", user=user, password=password)

    def logout(self) -> Deferred[Result]:
        return self.call("logout")

    def quit(self) -> Deferred[Result]:
        return self.call("quit")

    def commands(self) -> Deferred[list[Result]]:
        return self.call("commands").addCallback(lambda r: r["commands"])

    # -- files --------------------------------------------------------------

    def pwd(self) -> Deferred[str]:
        return self.call("pwd").addCallback(lambda r: r["path"])

    def cd(self, path: str) -> Deferred[str]:
        return self.call("cd", path=path).addCallback(lambda r: r["path"])

    def ls(self, path: str = ".", after: str | None = None, limit: int = 1000
           ) -> Deferred[Result]:
        """One page: {"path", "entries", "more"}."""
        args: dict[str, Any] = {"path": path, "limit": limit}
        if after is not None:
            args["after"] = after
        return self.call("ls", **args)

    async def ls_all(self, path: str = ".", page: int = 1000) -> AsyncIterator[Result]:
        """Every entry of a listing, fetched a page at a time."""
        after = None
        while True:
            result = await self.ls(path, after, page)
            for entry in result["entries"]:
                yield entry
            if not result["more"] or not result["entries"]:
                return
            after = result["entries"][-1]["name"]

    def stat(self, path: str) -> Deferred[Result]:
        return self.call("stat", path=path)

    def mkdir(self, path: str, parents: bool = False) -> Deferred[Result]:
        return self.call("mkdir", path=path, parents=parents)

    def rmdir(self, path: str) -> Deferred[Result]:
        return self.call("rmdir", path=path)

    def rm(self, path: str) -> Deferred[Result]:
        return self.call("rm", path=path)

    def mv(self, src: str, dst: str) -> Deferred[Result]:
        return self.call("mv", src=src, dst=dst)

    def put(self, local: str | Path, remote: str = ".", progress: Progress | None = None,
            rate: float | None = None, restart: bool = False) -> Deferred[Result]:
        """
        Upload C{local} to C{remote} (an existing directory takes it inside), resuming
        a staged earlier attempt when the local file is unchanged. Fires with
        {"path", "size", "checksum", "algorithm", "resumed_from"} (and "restarted"
        when a stale staged copy was discarded). C{progress(done, total)} is called
        as data goes; C{rate} caps bytes per second.
        """
        return Deferred.fromCoroutine(transfers.upload(self, Path(local), remote, progress,
                                                       rate, restart))

    def get(self, remote: str, local: str | Path, progress: Progress | None = None,
            rate: float | None = None) -> Deferred[Result]:
        """
        Download C{remote} to C{local}, verified, resuming a partial earlier attempt
        if the remote file is unchanged. Fires with {"path", "size", "checksum",
        "algorithm", "resumed_from"}.
        """
        return Deferred.fromCoroutine(transfers.download(self, remote, Path(local), progress,
                                                         rate))

    def quota(self) -> Deferred[Result]:
        """{"used", "limit", "free", "files"}; limit and free are None if unlimited."""
        return self.call("quota")

    def close(self) -> None:
        self.protocol.transport.loseConnection()
