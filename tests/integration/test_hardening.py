"""
Limits, abuse and faults against a real twistd: connection caps, bans, a client
that trickles, a client that never reads, read-only storage, graceful shutdown.

Every wait is for an observable event (a log line, a closed socket, a file's
size), bounded by DEADLINE; the only sleeps are the trickling client's own pace.
"""

from __future__ import annotations

import select
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.integration.conftest import Server, admin
from tests.integration.test_transfers import (
    DEADLINE,
    MiB,
    RawClient,
    content,
    fails,
    finish,
    fresh_quota,
    home,
    ok,
    spawn,
    staged,
    staged_size,
    wait_until,
)

pytestmark = pytest.mark.integration


@contextmanager
def limited(tmp_path: Path, limits: str) -> Iterator[Server]:
    """A server with these [limits], and alice (100M quota)."""
    config = tmp_path / "limits.toml"
    config.write_text("[limits]\n" + limits)
    srv = Server(tmp_path, "--config", str(config))
    assert admin(srv.users, "add", "alice", "--quota", "100M", password="alice-pw"
                 ).returncode == 0
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def logged(server: Server, text: str) -> int:
    return sum(text in line for line in list(server.lines))


def closed_by_server(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (bounded)."""
    sock.settimeout(DEADLINE)
    data = bytearray()
    while chunk := sock.recv(65536):
        data += chunk
    return bytes(data)


def last_error(data: bytes) -> dict[str, object]:
    """The last control frame in C{data}, decoded."""
    import json

    frames = []
    while data:
        (length,) = struct.unpack(">I", data[:4])
        frames.append(data[4:4 + length])
        data = data[4 + length:]
    message: dict[str, object] = json.loads(frames[-1][1:])
    return message


# -- connection limits and bans -------------------------------------------------------


@pytest.fixture
def capped(tmp_path: Path) -> Iterator[Server]:
    with limited(tmp_path, "max_connections_per_ip = 2\nban_failures = 2\n"
                           "login_failure_delay = 0\n") as srv:
        yield srv


def test_connections_over_the_cap_are_refused_with_a_clear_error(capped: Server) -> None:
    held = [RawClient(capped.port), RawClient(capped.port)]
    ended = logged(capped, "session end")
    try:
        sock = socket.create_connection(("127.0.0.1", capped.port), timeout=DEADLINE)
        reply = last_error(closed_by_server(sock))
        assert (reply["id"], reply["code"]) == (None, "too_many_connections")
        result = capped.cli("ls")
        assert (result.returncode, result.stderr.split(":")[:2]) == (3, ["ftpkit",
                                                                         " too_many_connections"])
    finally:
        for client in held:
            client.close()
    wait_until("the server to see the connections close",
               lambda: logged(capped, "session end") >= ended + 4)
    ok(capped, "ls")  # room again
    assert logged(capped, "too_many_connections") >= 2


def test_an_ip_with_repeated_failures_is_banned(capped: Server) -> None:
    for _ in range(2):
        result = capped.cli("ls", password="wrong")
        assert result.returncode == 4 and "auth_failed" in result.stderr
    result = capped.cli("ls")  # the right password no longer helps
    assert result.returncode == 4 and result.stderr.startswith("ftpkit: banned: "), \
        result.stderr
    assert logged(capped, "banned ip=127.0.0.1") == 1


# -- slow and stuck clients -----------------------------------------------------------


@pytest.fixture
def timeouts(tmp_path: Path) -> Iterator[Server]:
    with limited(tmp_path, "login_timeout = 3\nidle_timeout = 2\n") as srv:
        yield srv


def test_a_client_that_trickles_is_cut_by_the_login_timeout(timeouts: Server) -> None:
    sock = RawClient(timeouts.port).sock  # the hello read
    body = b'{"type":"request","id":1,"command":"login","args":{"user":"' + b"a" * 200
    frame = struct.pack(">IB", len(body) + 10, 0x43) + body  # 20 s of trickling, at least
    sock.setblocking(False)
    start = time.monotonic()
    for byte in frame:  # a slowloris: a byte every 100 ms, never a whole frame
        if select.select([sock], [], [], 0)[0]:
            break  # the server has answered (sending more now could reset the connection)
        sock.send(bytes([byte]))
        time.sleep(0.1)
    sock.setblocking(True)
    reply = last_error(closed_by_server(sock))
    assert (reply["id"], reply["code"]) == (None, "login_timeout")
    assert time.monotonic() - start < 10
    ok(timeouts, "ls")  # the server still serves


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_client_that_never_reads_is_cut_and_memory_stays_bounded(timeouts: Server) -> None:
    data = content(32 * MiB, 21)
    home(timeouts).mkdir(mode=0o700)
    (home(timeouts) / "big.bin").write_bytes(data)  # before alice's first login
    assert timeouts.process is not None
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.connect(("127.0.0.1", timeouts.port))
    client = RawClient.__new__(RawClient)
    client.sock, client.last_id = sock, 0
    client.read()  # the hello
    client.login("alice", "alice-pw")
    before = rss_kib(timeouts.process.pid)
    client.request("get", path="big.bin")  # and never read again
    wait_until("the idle timeout to cut the stuck download",
               lambda: logged(timeouts, "idle_timeout") >= 1)
    grown = rss_kib(timeouts.process.pid) - before
    assert grown < 32 * 1024, f"the server grew by {grown} KiB for one stuck download"
    sock.close()
    ok(timeouts, "ls")
    assert "Traceback" not in timeouts.log


def test_a_slow_reader_is_not_idle_and_gets_the_whole_file(timeouts: Server) -> None:
    data = content(12 * MiB, 25)
    home(timeouts).mkdir(mode=0o700)
    (home(timeouts) / "big.bin").write_bytes(data)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.connect(("127.0.0.1", timeouts.port))
    client = RawClient.__new__(RawClient)
    client.sock, client.last_id = sock, 0
    client.read()  # the hello
    client.login("alice", "alice-pw")
    real_recv = sock.recv

    def slow_recv(n: int) -> bytes:  # about 3 MiB/s: longer in all than the idle timeout
        time.sleep(0.005)
        return real_recv(min(n, 16 * 1024))

    client.sock = type("SlowSocket", (), {"recv": staticmethod(slow_recv),  # type: ignore
                                          "sendall": staticmethod(sock.sendall)})()
    cont, received, final = client.get("big.bin")
    assert received == data and final["type"] == "ok", final
    (line,) = [line for line in list(timeouts.lines) if "command get " in line]
    ms = float(line.rsplit("(", 1)[1].split()[0])
    assert ms > 2000, line  # the server sent for longer than the idle timeout
    sock.close()


# -- storage faults -------------------------------------------------------------------


@pytest.fixture
def read_only_dir(server: Server) -> Iterator[Path]:
    """A directory in alice's home that the kernel refuses to write (even for root)."""
    directory = home(server) / "ro"
    (directory / "sub").mkdir(parents=True)  # before alice's first login: no rescan needed
    (directory / "old.txt").write_bytes(b"old\n")
    steps = [["mount", "--bind", str(directory), str(directory)],
             ["mount", "-o", "remount,bind,ro", str(directory)]]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            subprocess.run(["umount", str(directory)], capture_output=True)
            pytest.skip(f"cannot make a read-only bind mount: {done.stderr.strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", str(directory)], capture_output=True)


def test_read_only_storage_gives_permission_denied(server: Server, read_only_dir: Path,
                                                   tmp_path: Path) -> None:
    local = tmp_path / "new.bin"
    local.write_bytes(content(300 * 1024, 22))
    alice = RawClient.logged_in(server.port, "alice", "alice-pw")
    try:
        before = alice.quota()
        fails(server, "put", "--no-progress", str(local), "ro/new.bin",
              code="permission_denied")  # refused at the commit, after the data
        for command, args in [("mkdir", {"path": "ro/d"}), ("rm", {"path": "ro/old.txt"}),
                              ("rmdir", {"path": "ro/sub"}),
                              ("mv", {"src": "ro/old.txt", "dst": "moved.txt"})]:
            reply = alice.call(command, **args)
            assert reply.get("code") == "permission_denied", (command, reply)
        assert not (read_only_dir / "new.bin").exists()
        assert staged(server) == []  # the refused commit's staged data is gone
        assert alice.quota() == before
    finally:
        alice.close()
    ok(server, "put", "--no-progress", str(local), "elsewhere.bin")  # still serving
    assert "Traceback" not in server.log and "internal_error" not in server.log


# -- graceful shutdown ----------------------------------------------------------------


def sigterm(server: Server) -> None:
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    wait_until("the listeners to stop", lambda: logged(server, "stopped listening") >= 1)


def test_sigterm_lets_a_transfer_finish_and_refuses_new_connections(tmp_path: Path) -> None:
    with limited(tmp_path, "shutdown_grace = 30\n") as srv:
        local = tmp_path / "up.bin"
        data = content(3 * MiB, 23)
        local.write_bytes(data)
        idle = RawClient.logged_in(srv.port, "alice", "alice-pw")
        proc = spawn(srv, "put", "--no-progress", "--limit-rate", "1M", str(local))
        wait_until("the upload to be under way", lambda: staged_size(srv) >= 256 * 1024, proc)
        sigterm(srv)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", srv.port), timeout=DEADLINE)
        assert last_error(closed_by_server(idle.sock))["code"] == "shutting_down"
        code, out, err = finish(proc)
        assert code == 0, srv.log[-4000:]
        assert srv.process is not None
        assert srv.process.wait(timeout=DEADLINE) == 0
        assert (home(srv) / "up.bin").read_bytes() == data
        assert staged(srv) == []
        assert "Traceback" not in srv.log


def test_sigterm_cuts_transfers_after_the_grace_and_keeps_them_for_resume(
        tmp_path: Path) -> None:
    with limited(tmp_path, "shutdown_grace = 1\n") as srv:
        local = tmp_path / "up.bin"
        data = content(4 * MiB, 24)
        local.write_bytes(data)
        proc = spawn(srv, "put", "--no-progress", "--limit-rate", "1M", str(local))
        wait_until("the upload to be under way", lambda: staged_size(srv) >= 256 * 1024, proc)
        sigterm(srv)
        assert proc.wait(timeout=DEADLINE) == 3  # connection lost
        assert srv.process is not None
        assert srv.process.wait(timeout=DEADLINE) == 0
        assert logged(srv, "shutdown grace of 1 s over: cut 1 transfers") == 1, srv.log
        held = staged_size(srv)
        assert 256 * 1024 <= held < len(data)
        srv.start()
        out = ok(srv, "put", "--no-progress", str(local))
        assert "resumed at" in out, out
        assert (home(srv) / "up.bin").read_bytes() == data
        assert fresh_quota(srv)["used"] == len(data)
