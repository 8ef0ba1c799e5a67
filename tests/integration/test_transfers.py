"""
put and get through the real CLI and a real server: round trips, resumes after a
killed client or server, verification, quota, concurrency, atomicity, a full disk.

Transfers are interrupted deterministically: a rate-limited transfer runs in a
subprocess, the test polls (bounded) for an observable state — the size of the
server's staged C{.part} file or of the client's C{.ftpkit-part} file — and then
SIGKILLs. Where the server must have noticed a dropped connection before the next
step, the test waits for the server's log line for that put.
"""

from __future__ import annotations

import json
import os
import random
import re
import socket
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import blake3
import pytest

from ftpkit.units import format_size
from tests.integration.conftest import BIN, Server, admin

pytestmark = pytest.mark.integration

KiB = 1024
MiB = 1024 * KiB
DEADLINE = 30.0  # seconds: the bound on every wait for another process
POLL = 0.01
FRAME_DATA = 256 * KiB  # file bytes per data frame from the raw client


# -- helpers -------------------------------------------------------------------


def content(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def digest(data: bytes) -> str:
    """The server's default checksum (blake3)."""
    return blake3.blake3(data).hexdigest()


def ok(server: Server, *args: str, **kw: Any) -> str:
    result = server.cli(*args, **kw)
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stdout


def fails(server: Server, *args: str, code: str, **kw: Any) -> None:
    result = server.cli(*args, **kw)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr.startswith(f"ftpkit: {code}: "), result.stderr
    assert "Traceback" not in result.stderr


def fresh_quota(server: Server, user: str = "alice", password: str = "alice-pw"
                ) -> dict[str, Any]:
    """The quota result from a new session (a rescan, if no other session is open)."""
    client = RawClient.logged_in(server.port, user, password)
    try:
        return client.quota()
    finally:
        client.close()


def home(server: Server, user: str = "alice") -> Path:
    return server.root / user


def staged(server: Server, user: str = "alice") -> list[Path]:
    """The server's staged upload files (.part) for C{user}."""
    staging = home(server, user) / ".ftpkit" / "staging"
    return sorted(staging.rglob("*.part")) if staging.is_dir() else []


def staged_size(server: Server, user: str = "alice") -> int:
    """The size of the largest staged .part file (0 if none)."""
    sizes = [0]
    for part in staged(server, user):
        try:
            sizes.append(part.stat().st_size)
        except FileNotFoundError:  # committed or discarded meanwhile
            pass
    return max(sizes)


def client_parts(directory: Path) -> list[Path]:
    """The client's partial-download files (.NAME.ftpkit-part and its .json note)."""
    return sorted(p for p in directory.iterdir() if ".ftpkit-part" in p.name)


def spawn(server: Server, *args: str, user: str = "alice",
          password: str = "alice-pw") -> subprocess.Popen[str]:
    """Start the real ftpkit CLI without waiting for it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FTPKIT_")}
    env["FTPKIT_PASSWORD"] = password
    return subprocess.Popen(
        [str(BIN / "ftpkit"), "--port", str(server.port), "--user", user, *args],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env)


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=DEADLINE)
    return proc.returncode, out, err


def wait_until(what: str, condition: Callable[[], bool],
               *running: subprocess.Popen[str]) -> None:
    """Poll an external process's observable state; fail after DEADLINE or if one of
    C{running} exits first (the state can then never be reached)."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        for proc in running:
            if proc.poll() is not None:
                code, out, err = finish(proc)
                pytest.fail(f"waiting for {what}: the process ended first "
                            f"(exit {code}):\n{out}{err}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {DEADLINE} s waiting for {what}")
        time.sleep(POLL)


def ended_puts(server: Server, outcome: str) -> int:
    """How many put requests the server has logged as answered with C{outcome}."""
    return sum(1 for line in list(server.lines)
               if "command put " in line and f"-> {outcome} (" in line)


def kill_put_midway(server: Server, local: Path, remote: str, *, at: int = 512 * KiB,
                    user: str = "alice", password: str = "alice-pw") -> int:
    """
    Start a rate-limited put, SIGKILL the client once C{at} bytes are staged, and
    wait until the server has given up on that put. The staged bytes left.
    """
    before = ended_puts(server, "aborted")
    proc = spawn(server, "put", "--no-progress", "--limit-rate", "1M", str(local), remote,
                 user=user, password=password)
    try:
        wait_until(f"{at} bytes staged", lambda: staged_size(server, user) >= at, proc)
    finally:
        proc.kill()
        proc.wait(timeout=DEADLINE)
    wait_until("the server to abort the put of the killed client",
               lambda: ended_puts(server, "aborted") > before)
    size = staged_size(server, user)
    assert at <= size < local.stat().st_size, "the put was not interrupted midway"
    return size


class RawClient:
    """A minimal client speaking the wire protocol by hand (docs/protocol.md)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
        self.last_id = 0
        hello = self.read()
        assert hello["type"] == "hello" and hello["protocol"] == 1, hello

    def close(self) -> None:
        self.sock.close()

    def _frame(self, kind: int, body: bytes) -> bytes:
        return struct.pack(">IB", len(body) + 1, kind) + body

    def send(self, message: dict[str, Any]) -> None:
        self.sock.sendall(self._frame(0x43, json.dumps(message).encode()))

    def send_data(self, data: bytes, frame: int = FRAME_DATA) -> None:
        for start in range(0, len(data), frame):
            self.sock.sendall(self._frame(0x44, data[start:start + frame]))

    def _exactly(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("the server closed the connection")
            buf += chunk
        return bytes(buf)

    def read(self) -> dict[str, Any]:
        (length,) = struct.unpack(">I", self._exactly(4))
        body = self._exactly(length)
        assert body[0] == 0x43, "the server sent a data frame where a message was due"
        message: dict[str, Any] = json.loads(body[1:])
        return message

    def request(self, command: str, **args: Any) -> int:
        self.last_id += 1
        self.send({"type": "request", "id": self.last_id, "command": command, "args": args})
        return self.last_id

    def call(self, command: str, **args: Any) -> dict[str, Any]:
        rid = self.request(command, **args)
        reply = self.read()
        assert reply["id"] == rid, reply
        return reply

    def login(self, user: str, password: str) -> None:
        reply = self.call("login", user=user, password=password)
        assert reply["type"] == "ok", reply

    @classmethod
    def logged_in(cls, port: int, user: str, password: str) -> RawClient:
        client = cls(port)
        try:
            client.login(user, password)
        except BaseException:
            client.close()
            raise
        return client

    def quota(self) -> dict[str, Any]:
        reply = self.call("quota")
        assert reply["type"] == "ok", reply
        result: dict[str, Any] = reply["result"]
        return result

    def end(self, rid: int, checksum: str) -> None:
        self.send({"type": "end", "id": rid, "checksum": checksum})

    def get(self, path: str, after_frame: Callable[[int], None] | None = None
            ) -> tuple[dict[str, Any], bytes, dict[str, Any]]:
        """A whole download: the continue, the bytes, the final answer."""
        rid = self.request("get", path=path)
        cont = self.read()
        assert (cont["type"], cont["id"]) == ("continue", rid), cont
        data = bytearray()
        frames = 0
        while True:
            (length,) = struct.unpack(">I", self._exactly(4))
            body = self._exactly(length)
            if body[0] == 0x44:
                data += body[1:]
                frames += 1
                if after_frame is not None:
                    after_frame(frames)
                continue
            final: dict[str, Any] = json.loads(body[1:])
            assert final["id"] == rid, final
            return cont, bytes(data), final


_LONG = re.compile(r"^(\S) +([\d,]+) \d{4}-\d\d-\d\d \d\d:\d\d  (.*)$")


def ls_sizes(server: Server, path: str = ".") -> dict[str, int]:
    """name -> size, from `ftpkit ls -l`."""
    sizes = {}
    for line in ok(server, "ls", "-l", path).splitlines():
        m = _LONG.match(line)
        assert m is not None, line
        sizes[m.group(3)] = int(m.group(2).replace(",", ""))
    return sizes


@pytest.fixture
def alice(server: Server) -> Iterator[RawClient]:
    """
    A session of alice held open through the test. Her quota account is kept only
    while she has a session, so with this one open, what C{quota} reports is the
    server's running bookkeeping across the CLI's sessions, not a fresh disk scan.
    """
    client = RawClient.logged_in(server.port, "alice", "alice-pw")
    yield client
    client.close()


# -- 1. round trips ------------------------------------------------------------


def test_put_and_get_round_trip(server: Server, alice: RawClient, tmp_path: Path) -> None:
    up, down = tmp_path / "up", tmp_path / "down"
    up.mkdir()
    down.mkdir()
    files = {"empty": b"", "blob.bin": content(3 * MiB + 123, 1),
             "Ünïcødé ✓ файл.dat": content(10 * KiB + 1, 2)}
    for name, data in files.items():
        (up / name).write_bytes(data)
        out = ok(server, "put", "--no-progress", str(up / name))
        assert f"-> /{name}: " in out and "blake3 verified" in out, out
        assert "resumed" not in out and "restarted" not in out
        assert (home(server) / name).read_bytes() == data
    for name, data in files.items():
        out = ok(server, "get", "--no-progress", name, str(down))  # into a directory
        assert f"get /{name} -> {down / name}: " in out, out
        assert (down / name).read_bytes() == data
    assert client_parts(down) == []
    assert staged(server) == []
    assert ls_sizes(server) == {name: len(data) for name, data in files.items()}

    # into an existing remote directory: inside it, under the local name (in the shell)
    blob = up / "blob.bin"
    result = server.cli("shell", stdin=f"mkdir docs\nput --no-progress '{blob}' docs\n"
                                        "ls -l docs\n")
    assert result.returncode == 0, result.stderr
    assert "-> /docs/blob.bin: " in result.stdout, result.stdout
    assert f" {len(files['blob.bin']):,} " in result.stdout.splitlines()[-1]
    assert (home(server) / "docs" / "blob.bin").read_bytes() == files["blob.bin"]

    # a tree, empty directory included
    tree = tmp_path / "tree"
    (tree / "sub" / "deeper").mkdir(parents=True)
    (tree / "empty").mkdir()
    leaves = {"a.txt": b"alpha\n", "sub/b.bin": content(100 * KiB, 3),
              "sub/deeper/c.txt": b"", "sub/deeper/d ✓.txt": "δ\n".encode()}
    for rel, data in leaves.items():
        (tree / rel).write_bytes(data)
    out = ok(server, "put", "-r", "--no-progress", str(tree))
    assert out.count("blake3 verified") == len(leaves), out
    remote = home(server) / "tree"
    assert (remote / "empty").is_dir()
    assert sorted(str(p.relative_to(remote)) for p in remote.rglob("*") if p.is_file()) \
        == sorted(leaves)
    for rel, data in leaves.items():
        assert (remote / rel).read_bytes() == data

    total = sum(map(len, files.values())) + len(files["blob.bin"]) \
        + sum(map(len, leaves.values()))
    q = alice.quota()
    assert (q["used"], q["files"]) == (total, len(files) + 1 + len(leaves))


# -- 2, 3, 4. resumes ---------------------------------------------------------------


def test_put_resumes_after_the_client_is_killed(server: Server, alice: RawClient,
                                                 tmp_path: Path) -> None:
    data = content(4 * MiB + 17, 4)
    local = tmp_path / "big.bin"
    local.write_bytes(data)
    held = kill_put_midway(server, local, "big.bin")
    assert not (home(server) / "big.bin").exists()  # nothing visible until committed
    assert alice.quota()["used"] == held  # staged bytes count against the quota

    out = ok(server, "put", "--no-progress", str(local), "big.bin")
    assert f"resumed at {format_size(held)}" in out, out
    assert (home(server) / "big.bin").read_bytes() == data
    assert staged(server) == []
    assert ok(server, "quota").startswith(f"used {format_size(len(data))} of 10.0 MiB, ")
    q = alice.quota()
    assert (q["used"], q["files"]) == (len(data), 1)


def test_get_resumes_after_the_client_is_killed(server: Server, tmp_path: Path) -> None:
    data = content(4 * MiB + 5, 5)
    (tmp_path / "src.bin").write_bytes(data)
    ok(server, "put", "--no-progress", str(tmp_path / "src.bin"), "big.bin")
    down = tmp_path / "down"
    down.mkdir()
    local = down / "copy.bin"
    part = down / ".copy.bin.ftpkit-part"

    def part_size() -> int:
        try:
            return part.stat().st_size
        except FileNotFoundError:
            return 0

    proc = spawn(server, "get", "--no-progress", "--limit-rate", "1M", "big.bin", str(local))
    try:
        wait_until("512 KiB downloaded", lambda: part_size() >= 512 * KiB, proc)
    finally:
        proc.kill()
        proc.wait(timeout=DEADLINE)
    held = part_size()
    assert 512 * KiB <= held < len(data)
    assert not local.exists()
    assert (down / ".copy.bin.ftpkit-part.json").exists()

    out = ok(server, "get", "--no-progress", "big.bin", str(local))
    assert f"resumed at {format_size(held)}" in out, out
    assert local.read_bytes() == data
    assert client_parts(down) == []


def test_put_resumes_after_the_server_is_killed(server: Server, tmp_path: Path) -> None:
    data = content(4 * MiB + 3, 6)
    local = tmp_path / "big.bin"
    local.write_bytes(data)
    proc = spawn(server, "put", "--no-progress", "--limit-rate", "1M", str(local), "big.bin")
    try:
        wait_until("512 KiB staged", lambda: staged_size(server) >= 512 * KiB, proc)
        assert server.process is not None
        server.process.kill()
        server.process.wait(timeout=DEADLINE)
        code, out, err = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=DEADLINE)
    assert code == 3 and err.startswith("ftpkit: connection_lost: "), (code, out, err)
    held = staged_size(server)
    assert 512 * KiB <= held < len(data)

    server.start()
    watcher = RawClient.logged_in(server.port, "alice", "alice-pw")
    try:
        assert watcher.quota()["used"] == held  # counted again at the first login
        out = ok(server, "put", "--no-progress", str(local), "big.bin")
        assert f"resumed at {format_size(held)}" in out, out
        assert (home(server) / "big.bin").read_bytes() == data
        assert staged(server) == []
        q = watcher.quota()
        assert (q["used"], q["files"]) == (len(data), 1)
    finally:
        watcher.close()


# -- 5, 6. verification ---------------------------------------------------------


def test_put_restarts_when_the_local_file_changed(server: Server, alice: RawClient,
                                                  tmp_path: Path) -> None:
    old = content(4 * MiB, 7)
    local = tmp_path / "big.bin"
    local.write_bytes(old)
    kill_put_midway(server, local, "big.bin")
    new = content(4 * KiB, 8) + old[4 * KiB:]  # same size, other first bytes
    local.write_bytes(new)

    out = ok(server, "put", "--no-progress", str(local), "big.bin")
    assert "restarted from 0" in out, out
    assert "resumed at" not in out
    assert (home(server) / "big.bin").read_bytes() == new
    assert staged(server) == []
    q = alice.quota()
    assert (q["used"], q["files"]) == (len(new), 1)


def test_a_corrupted_staged_byte_is_caught_by_the_checksum(server: Server,
                                                          tmp_path: Path) -> None:
    data = content(4 * MiB, 9)
    local = tmp_path / "big.bin"
    local.write_bytes(data)
    kill_put_midway(server, local, "big.bin")
    [part] = staged(server)
    corrupted = bytearray(part.read_bytes())
    corrupted[1000] ^= 0xFF
    part.write_bytes(corrupted)

    client = RawClient(server.port)
    try:
        client.login("alice", "alice-pw")
        rid = client.request("put", path="big.bin", size=len(data))
        cont = client.read()
        assert (cont["type"], cont["id"]) == ("continue", rid), cont
        offset = cont["result"]["offset"]
        assert offset == len(corrupted)
        assert cont["result"]["prefix_checksum"] == digest(bytes(corrupted))
        client.send_data(data[offset:])
        client.end(rid, digest(data))
        reply = client.read()
        assert (reply["type"], reply["id"], reply["code"]) == ("error", rid,
                                                               "checksum_mismatch"), reply
        q = client.quota()
        assert (q["used"], q["files"]) == (0, 0)
    finally:
        client.close()
    assert not (home(server) / "big.bin").exists()
    assert staged(server) == []
    assert fresh_quota(server)["used"] == 0


# -- 7. quota -----------------------------------------------------------------------


@pytest.fixture
def bob(server: Server) -> str:
    assert admin(server.users, "add", "bob", "--quota", "1M", password="bob-pw").returncode == 0
    return "bob"


def test_a_put_beyond_the_quota_is_refused_up_front(server: Server, bob: str,
                                                    tmp_path: Path) -> None:
    local = tmp_path / "two.bin"
    local.write_bytes(content(2 * MiB, 10))
    watcher = RawClient.logged_in(server.port, bob, "bob-pw")
    try:
        fails(server, "put", "--no-progress", str(local), code="quota_exceeded", user=bob,
              password="bob-pw")
        assert not (home(server, bob) / "two.bin").exists()
        assert staged(server, bob) == []
        q = watcher.quota()
        assert (q["used"], q["free"], q["files"]) == (0, MiB, 0)  # nothing left reserved
    finally:
        watcher.close()


@pytest.mark.parametrize(("frames", "code"), [
    # the first 256 KiB frame goes 156 KiB past the declared 100 KiB: within the free
    # quota, so it is a bad request
    ([FRAME_DATA] * 8, "bad_request"),
    # exactly the declared size, then a frame that no longer fits the quota
    ([100 * KiB] + [MiB - 1] * 2, "quota_exceeded"),
])
def test_a_client_sending_more_than_it_declared_is_stopped(
        server: Server, bob: str, frames: list[int], code: str) -> None:
    declared = 100 * KiB
    data = content(sum(frames), 11)
    assert len(data) >= 2 * MiB
    client = RawClient(server.port)
    try:
        client.login(bob, "bob-pw")
        rid = client.request("put", path="liar.bin", size=declared)
        cont = client.read()
        assert (cont["type"], cont["result"]["offset"]) == ("continue", 0), cont
        position = 0
        for length in frames:
            client.send_data(data[position:position + length], frame=length)
            position += length
        client.end(rid, digest(data))
        reply = client.read()
        assert (reply["type"], reply["id"], reply["code"]) == ("error", rid, code), reply
        # the connection is still usable, and nothing was kept
        q = client.quota()
        assert (q["used"], q["free"], q["files"]) == (0, MiB, 0)
    finally:
        client.close()
    assert not (home(server, bob) / "liar.bin").exists()
    assert staged(server, bob) == []
    assert fresh_quota(server, bob, "bob-pw")["used"] == 0


# -- 8, 9. concurrency and atomicity ----------------------------------------------


def test_concurrent_puts_to_one_path_leave_one_whole_file(server: Server, alice: RawClient,
                                                         tmp_path: Path) -> None:
    inputs = [content(2 * MiB, 12), content(2 * MiB, 13)]
    locals_ = [tmp_path / "a.bin", tmp_path / "b.bin"]
    for path, data in zip(locals_, inputs, strict=True):
        path.write_bytes(data)
    procs = [spawn(server, "put", "--no-progress", "--limit-rate", "1M", str(path), "same.bin")
             for path in locals_]
    try:
        wait_until("both uploads staged at once", lambda: len(staged(server)) == 2, *procs)
        results = [finish(proc) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=DEADLINE)
    for code, out, err in results:
        assert code in (0, 1), (code, out, err)
        assert "Traceback" not in err
    assert any(code == 0 for code, _, _ in results), results
    final = (home(server) / "same.bin").read_bytes()
    assert final in inputs
    assert staged(server) == []
    q = alice.quota()
    assert (q["used"], q["free"], q["files"]) == (2 * MiB, 8 * MiB, 1)


def test_a_get_during_a_put_sees_the_old_file(server: Server, alice: RawClient,
                                              tmp_path: Path) -> None:
    old, new = content(MiB + 7, 14), content(2 * MiB, 15)
    (tmp_path / "old").write_bytes(old)
    (tmp_path / "new").write_bytes(new)
    ok(server, "put", "--no-progress", str(tmp_path / "old"), "f.bin")
    proc = spawn(server, "put", "--no-progress", "--limit-rate", "1M", str(tmp_path / "new"),
                 "f.bin")
    try:
        wait_until("the new content being staged", lambda: staged_size(server) >= 256 * KiB,
                   proc)
        cont, during, final = alice.get("f.bin")
        entry = alice.call("stat", path="f.bin")["result"]
        # the put had not committed yet: the get really ran during it
        assert staged(server) and proc.poll() is None
        code, out, err = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=DEADLINE)
    assert (cont["result"]["size"], entry["size"]) == (len(old), len(old))
    assert during == old
    assert (final["type"], final["result"]["checksum"]) == ("ok", digest(old)), final
    assert code == 0, (out, err)
    ok(server, "get", "--no-progress", "f.bin", str(tmp_path / "after"))
    assert (tmp_path / "after").read_bytes() == new
    q = alice.quota()
    assert (q["used"], q["files"]) == (len(new), 1)


# -- 10. a full disk --------------------------------------------------------------


@contextmanager
def tmpfs(disk: Path, size: str) -> Iterator[Path]:
    """A tmpfs of C{size} mounted on the new directory C{disk} (skips if it cannot be)."""
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        if subprocess.run(["umount", str(disk)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(disk)], capture_output=True)


@contextmanager
def server_on_tmpfs(tmp_path: Path, size: str) -> Iterator[Server]:
    """A second server whose homes live on a small tmpfs; user carol, no quota."""
    with tmpfs(tmp_path / "disk", size) as disk:
        srv = Server(tmp_path)
        srv.root = disk / "homes"
        try:
            assert admin(srv.users, "add", "carol", password="carol-pw").returncode == 0
            srv.start()
            yield srv
        finally:
            srv.stop()


CAROL = {"user": "carol", "password": "carol-pw"}


def test_a_full_disk_fails_the_put_cleanly(tmp_path: Path) -> None:
    big, small = tmp_path / "big.bin", tmp_path / "small.bin"
    big.write_bytes(content(8 * MiB, 16))
    small.write_bytes(content(100 * KiB, 17))
    with server_on_tmpfs(tmp_path, "4m") as srv:
        fails(srv, "put", "--no-progress", str(big), code="storage_full", **CAROL)
        assert staged(srv, "carol") == []
        assert not (home(srv, "carol") / "big.bin").exists()
        q = fresh_quota(srv, **CAROL)
        assert (q["used"], q["limit"], q["files"]) == (0, None, 0)
        # the server still serves, and the space came back
        ok(srv, "put", "--no-progress", str(small), **CAROL)
        assert (home(srv, "carol") / "small.bin").read_bytes() == small.read_bytes()
        assert fresh_quota(srv, **CAROL)["used"] == 100 * KiB


def test_a_full_disk_leaves_the_quota_account_right(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(content(8 * MiB, 18))
    with server_on_tmpfs(tmp_path, "4m") as srv:
        watcher = RawClient.logged_in(srv.port, **CAROL)  # keeps carol's account alive
        try:
            fails(srv, "put", "--no-progress", str(big), code="storage_full", **CAROL)
            assert staged(srv, "carol") == []
            q = watcher.quota()
        finally:
            watcher.close()
    assert (q["used"], q["files"]) == (0, 0)


def test_a_get_onto_a_full_local_disk_fails_cleanly_and_resumes(server: Server, tmp_path: Path
                                                                ) -> None:
    data = content(6 * MiB, 19)
    home(server).mkdir(parents=True, exist_ok=True)
    (home(server) / "big.bin").write_bytes(data)
    with tmpfs(tmp_path / "local-disk", "8m") as disk:
        filler = disk / "filler"
        filler.write_bytes(b"\0" * (4 * MiB))
        fails(server, "get", "--no-progress", "big.bin", str(disk / "big.bin"),
              code="local_error")
        assert not (disk / "big.bin").exists()
        part = disk / ".big.bin.ftpkit-part"  # what did arrive is kept for a resume, noted
        assert client_parts(disk) == [part, disk / ".big.bin.ftpkit-part.json"]
        assert 0 < part.stat().st_size < len(data)
        assert ok(server, "pwd")  # the server is fine
        filler.unlink()
        out = ok(server, "get", "--no-progress", "big.bin", str(disk / "big.bin"))
        assert "resumed" in out, out
        assert (disk / "big.bin").read_bytes() == data
        assert client_parts(disk) == []


def test_a_get_into_a_missing_directory_fails_before_anything_moves(server: Server,
                                                                    tmp_path: Path) -> None:
    home(server).mkdir(parents=True, exist_ok=True)
    (home(server) / "f.bin").write_bytes(b"data")
    fails(server, "get", "--no-progress", "f.bin", str(tmp_path / "no" / "such" / "f.bin"),
          code="local_error")


def test_a_download_to_a_reader_that_falls_behind_stays_whole(tmp_path: Path) -> None:
    """
    A file with a recorded checksum goes out zero-copy (sendfile); a client that
    stops reading now and then makes the server wait for its socket to drain (on
    the reactor, no thread held) mid-frame. The bytes stay whole and in step.
    """
    server = Server(tmp_path)
    assert admin(server.users, "add", "alice", password="alice-pw").returncode == 0
    server.start()
    try:
        data = content(40 * MiB, 5)
        home(server).mkdir(parents=True, exist_ok=True)
        (home(server) / "big.bin").write_bytes(data)
        client = RawClient.logged_in(server.port, "alice", "alice-pw")
        try:
            first, body, final = client.get("big.bin")  # hashed, and so recorded
            assert first["result"]["checksum"] is None and body == data
            slow_until = 6

            def dawdle(frames: int) -> None:  # a client that stops reading for a while
                if frames <= slow_until:
                    time.sleep(0.1)

            cont, body, final = client.get("big.bin", after_frame=dawdle)
            assert cont["result"]["checksum"] == digest(data)
            assert body == data
            assert final["type"] == "ok" and final["result"]["checksum"] == digest(data)
            assert client.call("pwd")["type"] == "ok"  # the stream is still in step
        finally:
            client.close()
    finally:
        server.stop()
