"""
Benchmark ftpkit against pyftpdlib and against a raw-socket baseline (issue 6).

    scripts/bench [--quick] [--sessions N] [--repeat R] [--size 1G] [--disk DIR] [--json]

Everything runs on 127.0.0.1, each party in its own process:

  * ftpkit: `twistd -n ftpkit`, driven by ftpkit's client library in worker processes;
  * pyftpdlib: FTPServer + DummyAuthorizer in a subprocess, driven by ftplib clients
    (64 KiB blocks) in worker processes;
  * raw: a plain socket sender process and a receiver process writing the file.

The N concurrent sessions are spread over --workers driver processes (Twisted
concurrency for ftpkit, one thread per session for ftplib). A separate "control"
driver process holds one session for the single-file transfers, the listing and the
pwd/PWD round-trip latency samples. Each repetition starts a fresh server in a fresh
directory; figures are medians over the repetitions, and the servers take turns at
going first. Each single-file figure is itself the median of TRIES transfers per
repetition; the plain upload and download (the targets' figures) are taken paired,
with both servers up and the raw pair ready, one transfer of each in turn (see
paired_tries). Before each measured transfer the bench writes and deletes as many bytes
as it will write (see prefault). Before the N logins and each single-file figure it
waits for the machine to settle, and during the logins canary processes measure the
machine's own stalls (see CANARY_TICK). Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
BIN = Path(sys.executable).parent
USER, PASSWORD = "bench", "bench"
LIST_ENTRIES = 10_000
SMALL_DIR, SMALL_ENTRIES = "small", 10  # listed over and over while N clients log in
PHASE_TIMEOUT = 900.0  # any one step of a driver; the run fails rather than hangs
CONNECT_TIMEOUT = 120.0  # one session's connect + login, for N up to 240; grows with N
LOGIN_SECONDS = 0.5  # a generous bound on one argon2id login's share of 2 cores
# Both servers listen with this backlog. Twisted's default (50) let 200 simultaneous
# connects overflow the accept queue: the dropped handshakes left ftpkit clients
# waiting forever for the server's hello. --backlog 0 keeps each server's default.
DEFAULT_BACKLOG = 1024
# Each single-file figure is the median of this many transfers per repetition: on a
# shared VM one 1 GiB transfer can take twice as long as the next.
TRIES = 3
PREFAULT_MARGIN = 64 << 20  # bytes beyond a transfer's own: socket buffers, the heap
# A canary process on each core (pinned there: the host may take one core and not the
# other) sleeps CANARY_TICK at a time and notes each wake-up more than CANARY_LATE late;
# one STALL or more late is a machine stall. On a VM that hands freed memory back to its
# host (free page reporting, every 2 s), a loaded machine stalls for 20-40 ms at a time,
# every process alike, for seconds after gigabytes were freed: after the transfers
# before the N logins, say (docs/performance.md, "Machine stalls"). So before the logins
# and before each single-file figure (not with --quick) the bench loads every core and
# waits, SETTLE_WINDOW at a time (at most SETTLE_MOST), until the canaries see no stall;
# during the logins they run again, and ls samples that overlap a stall are counted
# apart.
CANARY_TICK, CANARY_LATE, STALL = 0.001, 0.005, 0.010
SETTLE_WINDOW, SETTLE_MOST = 2.5, 40.0


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass


def proc_status(pid: int, field: str = "VmRSS") -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def write_blocks(path: Path, size: int, block: bytes) -> None:
    """C{size} bytes of C{block} repeated (the last one cut short)."""
    with open(path, "wb") as f:
        left = size
        while left > 0:
            f.write(block[:min(left, len(block))])
            left -= len(block)


def write_random(path: Path, size: int) -> None:
    write_blocks(path, size, os.urandom(1 << 20))


def prefault(directory: Path, size: int) -> None:
    """
    Write C{size} bytes in C{directory} and delete them, just before a measured
    transfer writes as much there. A VM whose kernel reports freed pages to the host
    (free page reporting, /sys/module/page_reporting) makes the first touch of each
    such page a host fault: whichever server ran first would pay for the memory
    the one before it freed. Every server and the raw baseline get the same.
    """
    scratch = directory / "prefault.tmp"
    write_blocks(scratch, size + PREFAULT_MARGIN, bytes(1 << 20))
    scratch.unlink()


def median_of_tries(out: dict[str, Any], key: str, base: Path, size: int,
                    once: Callable[[], float], settled: bool) -> None:
    """
    C{out[key]}: the median MB/s of TRIES transfers of C{size} bytes, each after a
    prefault, the first once the machine has settled if C{settled}; every try is kept
    in C{out["tries"][key]}, the wait in C{out["settle"][key]}. C{once()} gives seconds.
    """
    if settled:
        out.setdefault("settle", {})[key] = settle()["seconds"]
    tries = []
    for _ in range(TRIES):
        prefault(base, size)
        tries.append(size / once() / 1e6)
    out.setdefault("tries", {})[key] = tries
    out[key] = statistics.median(tries)


# ---------------------------------------------------------------------------------
# Driver processes: read JSON commands on stdin, answer one JSON line per command.


class FtpkitDriver:
    def __init__(self, port: int) -> None:
        from twisted.internet import reactor

        self.reactor = reactor
        self.endpoint = f"tcp:127.0.0.1:{port}"
        self.sessions: list[Any] = []
        self.ping_latencies: list[float] = []
        self.ls_latencies: list[float] = []
        self.ls_starts: list[float] = []
        self.ping_stop = False
        self.ping_done: Any = None
        threading.Thread(target=reactor.run, kwargs={"installSignalHandlers": False},
                         daemon=True).start()

    def run(self, coro_fn: Any) -> Any:
        from twisted.internet.defer import Deferred
        from twisted.internet.threads import blockingCallFromThread

        return blockingCallFromThread(self.reactor, lambda: Deferred.fromCoroutine(coro_fn()))

    async def _session(self) -> Any:
        from ftpkit.client.api import Client

        client = await Client.connect(self.reactor, self.endpoint)
        await client.login(USER, PASSWORD)
        return client

    def login(self, n: int, total: int | None = None) -> dict[str, Any]:
        """C{n} sessions, while C{total} log in at once across the drivers."""
        from twisted.internet.defer import Deferred, gatherResults

        async def go() -> None:
            limit = max(CONNECT_TIMEOUT, LOGIN_SECONDS * (total or n))
            new = await gatherResults([Deferred.fromCoroutine(self._session())
                                       .addTimeout(limit, self.reactor)
                                       for _ in range(n)], consumeErrors=True)
            self.sessions.extend(new)
        self.run(go)
        return {}

    def put(self, src: str, tag: str) -> dict[str, Any]:
        from twisted.internet.defer import gatherResults

        async def go() -> None:
            await gatherResults([c.put(src, f"{tag}-{i}.bin")
                                 for i, c in enumerate(self.sessions)], consumeErrors=True)
        self.run(go)
        return {}

    def get(self, tag: str, dst_dir: str) -> dict[str, Any]:
        from twisted.internet.defer import Deferred, gatherResults

        async def one(i: int, c: Any) -> None:
            dst = Path(dst_dir) / f"{tag}-{i}.bin"
            await c.get(f"{tag}-{i}.bin", dst)
            dst.unlink()

        async def go() -> None:
            await gatherResults([Deferred.fromCoroutine(one(i, c))
                                 for i, c in enumerate(self.sessions)], consumeErrors=True)
        self.run(go)
        return {}

    def single_put(self, src: str, remote: str) -> dict[str, Any]:
        async def go() -> float:
            started = time.perf_counter()
            await self.sessions[0].put(src, remote)
            return time.perf_counter() - started
        return {"seconds": self.run(go)}

    def single_get(self, remote: str, dst: str) -> dict[str, Any]:
        async def go() -> float:
            started = time.perf_counter()
            await self.sessions[0].get(remote, dst)
            return time.perf_counter() - started
        took = self.run(go)
        Path(dst).unlink()
        return {"seconds": took}

    def ls(self, path: str) -> dict[str, Any]:
        async def go() -> tuple[float, int]:
            started = time.perf_counter()
            n = 0
            async for _ in self.sessions[0].ls_all(path):
                n += 1
            return time.perf_counter() - started, n
        took, n = self.run(go)
        return {"seconds": took, "entries": n}

    def ping_start(self) -> dict[str, Any]:
        from twisted.internet.defer import Deferred

        self.ping_latencies = []
        self.ls_latencies = []
        self.ls_starts = []
        self.ping_stop = False

        async def loop() -> None:
            client = self.sessions[0]
            while not self.ping_stop:
                started = time.perf_counter()
                await client.pwd()
                middle = time.perf_counter()
                listed = await client.ls(SMALL_DIR)
                assert len(listed["entries"]) == SMALL_ENTRIES, listed
                self.ping_latencies.append(middle - started)
                self.ls_latencies.append(time.perf_counter() - middle)
                self.ls_starts.append(middle)

        def start() -> None:
            self.ping_done = Deferred.fromCoroutine(loop())
        self.reactor.callFromThread(start)
        return {}

    def ping_stop_(self) -> dict[str, Any]:
        self.ping_stop = True

        async def go() -> None:
            await self.ping_done
        self.run(go)
        return {"latencies": self.ping_latencies, "ls_latencies": self.ls_latencies,
                "ls_starts": self.ls_starts}

    def quit(self) -> dict[str, Any]:
        from twisted.internet.defer import gatherResults

        async def go() -> None:
            await gatherResults([c.quit() for c in self.sessions], consumeErrors=True)
        try:
            self.run(go)
        finally:
            self.reactor.callFromThread(self.reactor.stop)
        return {}


class FtplibDriver:
    BLOCK = 65536

    def __init__(self, port: int) -> None:
        self.port = port
        self.sessions: list[Any] = []
        self.ping_latencies: list[float] = []
        self.ls_latencies: list[float] = []
        self.ls_starts: list[float] = []
        self.ping_stop = threading.Event()
        self.ping_thread: threading.Thread | None = None

    def _parallel(self, fn: Any, items: list[Any]) -> list[Any]:
        results: list[Any] = [None] * len(items)
        errors: list[BaseException] = []

        def run(i: int, item: Any) -> None:
            try:
                results[i] = fn(i, item)
            except BaseException as e:  # reported to the orchestrator
                errors.append(e)
        threads = [threading.Thread(target=run, args=(i, item), daemon=True)
                   for i, item in enumerate(items)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return results

    def _session(self, *_: Any) -> Any:
        import ftplib

        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", self.port, timeout=CONNECT_TIMEOUT)
        ftp.login(USER, PASSWORD)
        return ftp

    def login(self, n: int, total: int | None = None) -> dict[str, Any]:
        threading.stack_size(256 * 1024)
        self.sessions.extend(self._parallel(self._session, [None] * n))
        return {}

    def put(self, src: str, tag: str) -> dict[str, Any]:
        def one(i: int, ftp: Any) -> None:
            with open(src, "rb") as f:
                ftp.storbinary(f"STOR {tag}-{i}.bin", f, blocksize=self.BLOCK)
        self._parallel(one, self.sessions)
        return {}

    def get(self, tag: str, dst_dir: str) -> dict[str, Any]:
        def one(i: int, ftp: Any) -> None:
            dst = Path(dst_dir) / f"{tag}-{i}.bin"
            with open(dst, "wb") as f:
                ftp.retrbinary(f"RETR {tag}-{i}.bin", f.write, blocksize=self.BLOCK)
            dst.unlink()
        self._parallel(one, self.sessions)
        return {}

    def single_put(self, src: str, remote: str) -> dict[str, Any]:
        started = time.perf_counter()
        with open(src, "rb") as f:
            self.sessions[0].storbinary(f"STOR {remote}", f, blocksize=self.BLOCK)
        return {"seconds": time.perf_counter() - started}

    def single_get(self, remote: str, dst: str) -> dict[str, Any]:
        started = time.perf_counter()
        with open(dst, "wb") as f:
            self.sessions[0].retrbinary(f"RETR {remote}", f.write, blocksize=self.BLOCK)
        took = time.perf_counter() - started
        Path(dst).unlink()
        return {"seconds": took}

    def ls(self, path: str) -> dict[str, Any]:
        ftp = self.sessions[0]
        started = time.perf_counter()
        n = sum(1 for _ in ftp.mlsd(path))
        mlsd = time.perf_counter() - started
        started = time.perf_counter()
        n2 = len(ftp.nlst(path))
        nlst = time.perf_counter() - started
        return {"seconds": mlsd, "entries": n, "nlst_seconds": nlst, "nlst_entries": n2}

    def ping_start(self) -> dict[str, Any]:
        self.ping_latencies = []
        self.ls_latencies = []
        self.ls_starts = []
        self.ping_stop.clear()

        def loop() -> None:
            ftp = self.sessions[0]
            while not self.ping_stop.is_set():
                started = time.perf_counter()
                ftp.pwd()
                middle = time.perf_counter()
                assert len(ftp.nlst(SMALL_DIR)) == SMALL_ENTRIES
                self.ping_latencies.append(middle - started)
                self.ls_latencies.append(time.perf_counter() - middle)
                self.ls_starts.append(middle)
        self.ping_thread = threading.Thread(target=loop, daemon=True)
        self.ping_thread.start()
        return {}

    def ping_stop_(self) -> dict[str, Any]:
        self.ping_stop.set()
        assert self.ping_thread is not None
        self.ping_thread.join()
        return {"latencies": self.ping_latencies, "ls_latencies": self.ls_latencies,
                "ls_starts": self.ls_starts}

    def quit(self) -> dict[str, Any]:
        def one(i: int, ftp: Any) -> None:
            try:
                ftp.quit()
            except Exception:
                ftp.close()
        self._parallel(one, self.sessions)
        return {}


def driver_main(kind: str, port: int) -> None:
    raise_nofile()
    if kind == "ftpkit":
        from ftpkit.memory import keep_freed_heap

        keep_freed_heap()  # as the ftpkit CLI does at its start
    driver: Any = FtpkitDriver(port) if kind == "ftpkit" else FtplibDriver(port)
    out = sys.stdout
    for line in sys.stdin:
        msg = json.loads(line)
        op = msg.pop("op")
        started = time.perf_counter()
        try:
            result = getattr(driver, op if op != "ping_stop" else "ping_stop_")(**msg)
            result.setdefault("wall", time.perf_counter() - started)
            result["ok"] = True
        except BaseException as e:
            result = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        out.write(json.dumps(result) + "\n")
        out.flush()
        if op == "quit":
            break


# ---------------------------------------------------------------------------------
# The stall canary: a process with nothing to do but wake up every millisecond.


def canary_main(cpu: int) -> None:
    """On core C{cpu}, until a line arrives on stdin: wake every TICK; then print the
    late wake-ups."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    gaps: list[tuple[float, float]] = []
    before = time.perf_counter()
    while not select.select([sys.stdin], [], [], CANARY_TICK)[0]:
        now = time.perf_counter()
        if now - before > CANARY_LATE:
            gaps.append((before, now - before))
        before = now
    print(json.dumps({"gaps": gaps}), flush=True)


def spin_main(seconds: float) -> None:
    """Keep one core busy for C{seconds}, at the lowest priority."""
    os.nice(19)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def stalls(gaps: list[list[float]], starts: list[float],
           latencies: list[float]) -> tuple[dict[str, float], list[float]]:
    """The canary's worst wake-up delay, and the latencies of the samples none overlaps."""
    big = [(g, g + d) for g, d in gaps if d >= STALL]
    clear = [lat for s, lat in zip(starts, latencies, strict=True)
             if not any(s < end and g < s + lat for g, end in big)]
    return {"max": 1000 * max((d for _, d in gaps), default=0.0), "stalls": len(big)}, clear


# ---------------------------------------------------------------------------------
# pyftpdlib server and the raw baseline, as subprocesses of this same file.


def pyftpd_main(home: str, backlog: int) -> None:
    raise_nofile()
    import logging

    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer

    logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
    authorizer = DummyAuthorizer()
    authorizer.add_user(USER, PASSWORD, home, perm="elradfmwMT")
    handler = FTPHandler
    handler.authorizer = authorizer
    server = FTPServer(("127.0.0.1", 0), handler, **({"backlog": backlog} if backlog else {}))
    server.max_cons = 0  # unlimited; the default (512) would refuse --sessions 1000
    print(server.address[1], flush=True)
    server.serve_forever()


def raw_recv_main(dst: str) -> None:
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    print(lsock.getsockname()[1], flush=True)
    conn, _ = lsock.accept()
    started = time.perf_counter()
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    n = 0
    with open(dst, "wb") as f:
        while True:
            got = conn.recv_into(buf)
            if not got:
                break
            f.write(view[:got])
            n += got
    took = time.perf_counter() - started
    conn.close()
    print(json.dumps({"seconds": took, "bytes": n}), flush=True)


def raw_send_main(src: str, port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as s, open(src, "rb") as f:
        while True:
            block = f.read(1 << 20)
            if not block:
                break
            s.sendall(block)


# ---------------------------------------------------------------------------------
# The orchestrator.


class Procs:
    """Every child process, killed on exit whatever happens."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[Any]] = []

    def spawn(self, args: list[str], **kw: Any) -> subprocess.Popen[Any]:
        proc = subprocess.Popen(args, **kw)
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[Any]) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def kill_all(self) -> None:
        for proc in reversed(self.procs):
            self.kill(proc)
        self.procs.clear()


PROCS = Procs()


def self_cmd(*args: Any) -> list[str]:
    return [sys.executable, str(HERE), *map(str, args)]


class Driver:
    def __init__(self, kind: str, port: int, log: Path) -> None:
        self.proc = PROCS.spawn(self_cmd("--driver", kind, port), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=open(log, "ab"), text=True)

    def send(self, op: str, **args: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()

    def recv(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        if not select.select([self.proc.stdout], [], [], PHASE_TIMEOUT)[0]:
            raise RuntimeError(f"driver gave no answer in {PHASE_TIMEOUT:.0f} s")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"driver exited (rc {self.proc.poll()})")
        reply = json.loads(line)
        if not reply["ok"]:
            raise RuntimeError(reply["error"])
        return reply

    def call(self, op: str, **args: Any) -> dict[str, Any]:
        self.send(op, **args)
        return self.recv()


def phase(drivers: list[Driver], op: str, **args: Any) -> float:
    """Send one op to every driver at once; seconds until the last one answers."""
    started = time.perf_counter()
    for i, d in enumerate(drivers):
        d.send(op, **{k: (v.format(i=i) if isinstance(v, str) else v) for k, v in args.items()})
    for d in drivers:
        d.recv()
    return time.perf_counter() - started


class Sampler:
    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self) -> None:
        while True:
            self.peak = max(self.peak, proc_status(self.pid))
            if self.done.wait(0.05):
                return

    def __enter__(self) -> Sampler:
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.done.set()
        self.thread.join()


def start_ftpkit(work: Path, backlog: int, sessions: int) -> tuple[subprocess.Popen[Any], int]:
    subprocess.run([str(BIN / "ftpkit-admin"), "--users", str(work / "users.sqlite"), "add",
                    USER], input=PASSWORD + "\n", text=True, check=True, capture_output=True)
    port_file = work / "port"
    # pyftpdlib runs with no connection limits; so does ftpkit here (docs/operations.md,
    # "Benchmarks"): all N sessions come from 127.0.0.1 as one user, and N logins queued
    # on argon2id may take longer than the default login timeout.
    n = 2 * sessions + 100
    (work / "bench.toml").write_text(
        f"[limits]\nmax_connections = {n}\nmax_connections_per_ip = {n}\n"
        f"max_sessions_per_user = {n}\nmax_transfers_per_user = {n}\n"
        "login_timeout = 0\nidle_timeout = 0\n")
    proc = PROCS.spawn([str(BIN / "twistd"), "--pidfile=", "--logfile=-", "-n", "ftpkit",
                        "--config", str(work / "bench.toml"),
                        "--listen", "tcp:0:interface=127.0.0.1"
                        + (f":backlog={backlog}" if backlog else ""), "--port-file", str(port_file),
                        "--root", str(work / "homes"), "--users", str(work / "users.sqlite")],
                       cwd=work, stdout=open(work / "server.log", "wb"),
                       stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not (port_file.exists() and port_file.read_text().strip()):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("ftpkit server failed to start: "
                               + (work / "server.log").read_text()[-2000:])
        time.sleep(0.05)
    return proc, int(port_file.read_text().split()[0])


def start_pyftpdlib(work: Path, backlog: int, sessions: int) -> tuple[subprocess.Popen[Any], int]:
    proc = PROCS.spawn(self_cmd("--pyftpd-server", work / "homes" / USER, backlog),
                       stdout=subprocess.PIPE, stderr=open(work / "server.log", "wb"), text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError("pyftpdlib server failed to start: "
                           + (work / "server.log").read_text()[-2000:])
    return proc, int(line)


def cpu_seconds(field: int) -> float:
    """The machine's total of one /proc/stat cpu column (7: steal), in seconds."""
    with open("/proc/stat") as f:
        return int(f.readline().split()[1 + field]) / os.sysconf("SC_CLK_TCK")


class Canary:
    """
    A canary process on each core, from start to L{stop}: their late wake-ups, and the
    time the host took the VM's cores for others (steal).
    """

    def __init__(self) -> None:
        self.procs = [PROCS.spawn(self_cmd("--canary", cpu), stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
                      for cpu in sorted(os.sched_getaffinity(0))]
        self.steal = cpu_seconds(7)

    def stop(self) -> list[list[float]]:
        self.steal = cpu_seconds(7) - self.steal
        gaps: list[list[float]] = []
        for proc in self.procs:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write("\n")
            proc.stdin.flush()
            gaps += json.loads(proc.stdout.readline())["gaps"]
            proc.wait(PHASE_TIMEOUT)
        return sorted(gaps)


def settle() -> dict[str, float | bool]:
    """Wait, loading every core, until a canary beside the load sees no machine stall."""
    started = time.perf_counter()
    while True:
        canary = Canary()
        spinners = [PROCS.spawn(self_cmd("--spin", SETTLE_WINDOW))
                    for _ in range(os.cpu_count() or 1)]
        for spinner in spinners:
            spinner.wait(PHASE_TIMEOUT)
        worst = max((d for _, d in canary.stop()), default=0.0)
        took = time.perf_counter() - started
        if worst < STALL or took >= SETTLE_MOST:
            return {"seconds": took, "settled": worst < STALL, "last_stall_ms": 1000 * worst}


def latency_summary(seconds: list[float]) -> dict[str, float]:
    lat = sorted(seconds)
    if not lat:
        return {"samples": 0}
    return {"median": 1000 * statistics.median(lat),
            "p99": 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))],
            "max": 1000 * lat[-1], "samples": len(lat)}


SINGLE = {  # single-file figure: (the control driver's op, the remote file)
    "upload_MBps": ("single_put", "single.bin"),
    "download_MBps": ("single_get", "single.bin"),
    "upload_idle_MBps": ("single_put", "single2.bin"),
    "download_idle_MBps": ("single_get", "single2.bin"),
}


class ServerRun:
    """
    One server's part of a repetition. It starts (a fresh server in a fresh directory,
    and a control session) beside the other server, so that the plain single-file
    figures can be taken paired (L{paired_tries}); then the rest runs with the other
    server idle (L{rest}).
    """

    def __init__(self, kind: str, opts: argparse.Namespace, base: Path, source: Path,
                 small: Path, rep: int) -> None:
        self.kind, self.opts, self.base, self.source, self.small = kind, opts, base, source, small
        self.work = work = Path(tempfile.mkdtemp(prefix=f"{kind}-{rep}-", dir=base))
        home = work / "homes" / USER
        (home / "big").mkdir(parents=True)
        for i in range(LIST_ENTRIES):
            os.close(os.open(home / "big" / f"file-{i:05d}.dat", os.O_CREAT | os.O_WRONLY, 0o600))
        (home / SMALL_DIR).mkdir()
        for i in range(SMALL_ENTRIES):
            (home / SMALL_DIR / f"note-{i}.txt").write_bytes(b"x" * 100 * i)
        self.local = work / "local"
        self.local.mkdir()
        self.log = work / "drivers.log"
        start = start_ftpkit if kind == "ftpkit" else start_pyftpdlib
        server, self.port = start(work, opts.backlog, opts.sessions)
        self.pid = server.pid
        self.driver_kind = "ftpkit" if kind == "ftpkit" else "ftplib"
        self.r: dict[str, Any] = {"rss_before_login": proc_status(self.pid)}
        self.control = Driver(self.driver_kind, self.port, self.log)
        self.control.call("login", n=1)
        time.sleep(0.3)
        self.r["rss_start"] = proc_status(self.pid)

    def transfer(self, key: str) -> float:
        """Seconds for one try of the single-file figure C{key}."""
        op, remote = SINGLE[key]
        args = ({"src": str(self.source)} if op == "single_put"
                else {"dst": str(self.local / remote)})
        return float(self.control.call(op, remote=remote, **args)["seconds"])

    def single(self, key: str) -> None:
        """The figure C{key} on its own: median_of_tries."""
        median_of_tries(self.r, key, self.base, self.source.stat().st_size,
                        lambda: self.transfer(key), settled=not self.opts.quick)

    def rest(self) -> dict[str, Any]:
        """The listing, the N logins, the single transfers with N idle, the N clients."""
        r, pid, opts, control = self.r, self.pid, self.opts, self.control
        r["list_s"] = control.call("ls", path="big")
        assert r["list_s"]["entries"] == LIST_ENTRIES, r["list_s"]
        n, w = opts.sessions, min(opts.workers, opts.sessions)
        workers = [Driver(self.driver_kind, self.port, self.log) for _ in range(w)]
        counts = [n // w + (1 if i < n % w else 0) for i in range(w)]
        # N logins, all at once, while the control session keeps asking pwd and ls.
        # Memory per session is measured from here: what the transfers above left
        # in the heap is not the sessions' doing.
        r["settle_logins"] = settle()
        r["rss_before_sessions"] = proc_status(pid)
        canary = Canary()
        control.call("ping_start")
        started = time.perf_counter()
        for d, c in zip(workers, counts, strict=True):
            d.send("login", n=c, total=n)
        for d in workers:
            d.recv()
        r["login_s"] = time.perf_counter() - started
        r["logins_per_s"] = n / r["login_s"]
        pings = control.call("ping_stop")
        r["pwd_ms"] = latency_summary(pings["latencies"])
        r["ls_ms"] = latency_summary(pings["ls_latencies"])
        r["stall_ms"], clear = stalls(canary.stop(), pings["ls_starts"],
                                      pings["ls_latencies"])
        r["steal_s"] = canary.steal
        r["ls_clear_ms"] = latency_summary(clear)
        time.sleep(1.0)
        r["rss_idle"] = proc_status(pid)
        r["mem_per_session_KiB"] = (r["rss_idle"] - r["rss_before_sessions"]) / n / 1024
        # The single transfer again, with N idle sessions logged in.
        self.single("upload_idle_MBps")
        self.single("download_idle_MBps")
        # N clients each upload, then each download, a 10 MiB file.
        everyone = n * self.small.stat().st_size
        with Sampler(pid) as s:
            prefault(self.base, everyone)
            r["clients_upload_s"] = phase(workers, "put", src=str(self.small), tag="w{i}")
            prefault(self.base, everyone)
            r["clients_download_s"] = phase(workers, "get", tag="w{i}",
                                            dst_dir=str(self.local))
        r["rss_transfers_peak"] = s.peak
        r["rss_hwm"] = proc_status(pid, "VmHWM")
        phase(workers + [control], "quit")
        return r


class RawRun:
    """The raw baseline's part of a repetition: a plain socket copy each way."""

    def __init__(self, base: Path, source: Path) -> None:
        self.source = source
        self.work = Path(tempfile.mkdtemp(prefix="raw-", dir=base))
        self.r: dict[str, Any] = {}

    def transfer(self, key: str) -> float:
        """Seconds for one copy: the upload sends the source, the download what it wrote."""
        server_copy = self.work / "server-copy.bin"
        src, dst = ((self.source, server_copy) if key == "upload_MBps"
                    else (server_copy, self.work / "client-copy.bin"))
        recv = PROCS.spawn(self_cmd("--raw-recv", dst), stdout=subprocess.PIPE, text=True)
        assert recv.stdout is not None
        port = int(recv.stdout.readline())
        send = PROCS.spawn(self_cmd("--raw-send", src, port))
        result = json.loads(recv.stdout.readline())
        send.wait(PHASE_TIMEOUT)
        recv.wait(PHASE_TIMEOUT)
        assert result["bytes"] == self.source.stat().st_size, result
        return float(result["seconds"])


def paired_tries(parties: dict[str, Any], key: str, base: Path, size: int,
                 settled: bool) -> None:
    """
    The single-file figure C{key} for every party, taken in turns: each of TRIES rounds
    runs one transfer of each (each after a prefault), the order turning round by round,
    so that a machine whose pace drifts over the minutes weighs on all alike. Each
    party's C{r[key]} is its median MB/s; every try is kept in C{r["tries"][key]}.
    """
    if settled:
        waited = settle()["seconds"]
        for party in parties.values():
            party.r.setdefault("settle", {})[key] = waited
    names = list(parties)
    tries: dict[str, list[float]] = {name: [] for name in names}
    for t in range(TRIES):
        for name in names[t % len(names):] + names[:t % len(names)]:
            prefault(base, size)
            tries[name].append(size / parties[name].transfer(key) / 1e6)
    for name, party in parties.items():
        party.r.setdefault("tries", {})[key] = tries[name]
        party.r[key] = statistics.median(tries[name])


def run_repetition(servers: list[str], opts: argparse.Namespace, base: Path, source: Path,
                   small: Path, rep: int) -> dict[str, dict[str, Any]]:
    """
    One repetition: every party set up at once; the single-file upload, then download,
    paired; then each server's rest in turn, this repetition's first going first.
    """
    order = servers[rep % len(servers):] + servers[:rep % len(servers)]
    parties: dict[str, Any] = {}
    try:
        for kind in order:
            print(f"[rep {rep + 1}/{opts.repeat}] {kind} ...", file=sys.stderr, flush=True)
            parties[kind] = (RawRun(base, source) if kind == "raw"
                             else ServerRun(kind, opts, base, source, small, rep))
        size = source.stat().st_size
        for key in ("upload_MBps", "download_MBps"):
            paired_tries(parties, key, base, size, settled=not opts.quick)
        for kind in order:
            if kind != "raw":
                parties[kind].rest()
        return {kind: party.r for kind, party in parties.items()}
    finally:
        PROCS.kill_all()
        for party in parties.values():
            shutil.rmtree(party.work, ignore_errors=True)


def med(runs: list[dict[str, Any]], key: str, sub: str | None = None) -> float | None:
    vals = [r[key][sub] if sub else r[key] for r in runs
            if key in r and (sub is None or sub in r[key])]
    return statistics.median(vals) if vals else None


MiB = 1 << 20
ROWS: list[tuple[str, str, str, str | None, float, bool]] = [
    # label, unit, key, sub-key, scale, higher is better
    ("upload, single file", "MB/s", "upload_MBps", None, 1, True),
    ("download, single file", "MB/s", "download_MBps", None, 1, True),
    ("upload, with N idle sessions", "MB/s", "upload_idle_MBps", None, 1, True),
    ("download, with N idle sessions", "MB/s", "download_idle_MBps", None, 1, True),
    ("N clients connect+login", "s", "login_s", None, 1, False),
    ("login throughput (N at once)", "logins/s", "logins_per_s", None, 1, True),
    ("N clients upload one file each", "s", "clients_upload_s", None, 1, False),
    ("N clients download one file each", "s", "clients_download_s", None, 1, False),
    ("server RSS, before any login", "MiB", "rss_before_login", None, MiB, False),
    ("server RSS at start (1 session)", "MiB", "rss_start", None, MiB, False),
    ("server RSS just before the N logins", "MiB", "rss_before_sessions", None, MiB, False),
    ("server RSS, N idle sessions", "MiB", "rss_idle", None, MiB, False),
    ("server RSS peak, N transfers", "MiB", "rss_transfers_peak", None, MiB, False),
    ("memory per idle session", "KiB", "mem_per_session_KiB", None, 1, False),
    ("list 10 000 entries (ftpkit ls_all / MLSD)", "s", "list_s", "seconds", 1, False),
    ("list 10 000 entries (NLST)", "s", "list_s", "nlst_seconds", 1, False),
    ("pwd round trip during N logins, median", "ms", "pwd_ms", "median", 1, False),
    ("pwd round trip during N logins, p99", "ms", "pwd_ms", "p99", 1, False),
    ("pwd round trip during N logins, max", "ms", "pwd_ms", "max", 1, False),
    ("ls of 10 entries during N logins, median (FTP: NLST)", "ms", "ls_ms", "median", 1, False),
    ("ls of 10 entries during N logins, p99", "ms", "ls_ms", "p99", 1, False),
    ("ls of 10 entries during N logins, max", "ms", "ls_ms", "max", 1, False),
    ("before the logins: waited for the machine to settle", "s", "settle_logins", "seconds", 1,
     False),
    ("idle canaries' (one a core) latest wake-up, N logins", "ms", "stall_ms", "max", 1, False),
    ("machine stalls (a canary >= 10 ms late)", "count", "stall_ms", "stalls", 1, False),
    ("CPU time the host took (steal) during N logins", "s", "steal_s", None, 1, False),
    ("ls during N logins, max outside machine stalls", "ms", "ls_clear_ms", "max", 1, False),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="128 MiB, 1 repetition, 50 sessions, no settling before "
                             "each transfer figure (under a minute)")
    parser.add_argument("--sessions", type=int, help="N (default 200; quick 50)")
    parser.add_argument("--repeat", type=int, help="repetitions (default 3; quick 1)")
    parser.add_argument("--size", help="single-file size, e.g. 1G (default 1G; quick 128M)")
    parser.add_argument("--client-file", default="10M",
                        help="the file each of the N clients uploads and downloads (10M)")
    parser.add_argument("--workers", type=int, default=4,
                        help="driver processes the N sessions are spread over (4)")
    parser.add_argument("--disk", metavar="DIR",
                        help="put homes and files under DIR instead of /dev/shm")
    parser.add_argument("--backlog", type=int, default=DEFAULT_BACKLOG,
                        help=f"listen backlog for both servers ({DEFAULT_BACKLOG}; 0: defaults)")
    parser.add_argument("--servers", default="ftpkit,pyftpdlib,raw")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    opts = parser.parse_args()
    from ftpkit.units import parse_size

    opts.sessions = opts.sessions or (50 if opts.quick else 200)
    opts.repeat = opts.repeat or (1 if opts.quick else 3)
    size = parse_size(opts.size or ("128M" if opts.quick else "1G"), allow_unlimited=False)
    assert size
    opts.client_file = parse_size(opts.client_file, allow_unlimited=False)
    if not 1 <= opts.sessions <= 1000:
        parser.error("--sessions must be 1..1000")
    raise_nofile()
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft != resource.RLIM_INFINITY and soft < 3 * opts.sessions + 200:
        parser.error(f"RLIMIT_NOFILE is {soft}: too low for {opts.sessions} sessions")
    parent = opts.disk or ("/dev/shm" if os.path.isdir("/dev/shm") else None)
    servers = opts.servers.split(",")
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in servers}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    began = time.perf_counter()
    base = Path(tempfile.mkdtemp(prefix="ftpkit-bench-", dir=parent))
    try:
        source, small = base / "source.bin", base / "small.bin"
        write_random(source, size)
        write_random(small, opts.client_file)
        for rep in range(opts.repeat):
            # each in turn goes first: no server always inherits the others' memory
            for kind, r in run_repetition(servers, opts, base, source, small, rep).items():
                runs[kind].append(r)
    finally:
        PROCS.kill_all()
        shutil.rmtree(base, ignore_errors=True)
    elapsed = time.perf_counter() - began

    fk, pf, raw = runs.get("ftpkit", []), runs.get("pyftpdlib", []), runs.get("raw", [])
    table = []
    for label, unit, key, sub, scale, higher in ROWS:
        a, b = med(fk, key, sub), med(pf, key, sub)
        c = med(raw, key, sub) if key in ("upload_MBps", "download_MBps") else None
        a, b, c = (None if x is None else x / scale for x in (a, b, c))
        table.append({"figure": label, "unit": unit, "ftpkit": a, "pyftpdlib": b, "raw": c,
                      "ftpkit/pyftpdlib": a / b if a is not None and b else None,
                      "ftpkit/raw": a / c if a is not None and c else None,
                      "better": "higher" if higher else "lower"})

    def ratio(key: str, other: list[dict[str, Any]]) -> float | None:
        a, b = med(fk, key), med(other, key)
        return a / b if a is not None and b else None

    config = {"size": size, "sessions": opts.sessions, "repeat": opts.repeat,
              "workers": opts.workers, "backlog": opts.backlog,
              "dir": str(parent or tempfile.gettempdir()),
              "client_file": opts.client_file, "list_entries": LIST_ENTRIES,
              "elapsed_s": elapsed}
    def cell(label: str, column: str) -> float | None:
        value: float | None = next(t[column] for t in table if t["figure"] == label)
        return value

    # issue 6's targets: what, the figure, and whether it meets its bound
    at_least = lambda bound: lambda v: v >= bound  # noqa: E731
    at_most = lambda bound: lambda v: v <= bound  # noqa: E731
    checks = [
        ("upload >= 1.0x pyftpdlib", ratio("upload_MBps", pf), at_least(1.0)),
        ("download >= 1.0x pyftpdlib", ratio("download_MBps", pf), at_least(1.0)),
        ("upload >= 0.6x raw", ratio("upload_MBps", raw), at_least(0.6)),
        ("download >= 0.6x raw", ratio("download_MBps", raw), at_least(0.6)),
        # the issue sets these two at 1000 idle sessions and at 200 logins
        ("memory per idle session <= pyftpdlib's, at N = 1000",
         ratio("mem_per_session_KiB", pf), at_most(1.0) if opts.sessions >= 1000 else None),
        ("N-client upload total <= pyftpdlib's", ratio("clients_upload_s", pf), at_most(1.0)),
        ("N-client download total <= pyftpdlib's", ratio("clients_download_s", pf),
         at_most(1.0)),
        ("ls max while 200 clients log in < 50 ms (ms)",
         cell("ls of 10 entries during N logins, max", "ftpkit"),
         (lambda v: v < 50.0) if opts.sessions == 200 else None),
    ]
    targets = [{"target": what, "value": value,
                "met": None if value is None or ok is None else ok(value)}
               for what, value, ok in checks]

    if opts.json:
        print(json.dumps({
            "upload_vs_pyftpdlib": ratio("upload_MBps", pf),
            "download_vs_pyftpdlib": ratio("download_MBps", pf),
            "upload_vs_raw": ratio("upload_MBps", raw),
            "download_vs_raw": ratio("download_MBps", raw),
            "memory_per_session_vs_pyftpdlib": ratio("mem_per_session_KiB", pf),
            "targets": targets, "config": config, "table": table, "runs": runs}, indent=2))
        return

    def fmt(x: float | None, unit: str = "") -> str:
        if x is None:
            return "-"
        return f"{x:,.3f}" if unit in ("s", "ratio") and abs(x) < 10 else f"{x:,.1f}"

    print(f"size {size / MiB:.0f} MiB, N={opts.sessions} sessions over {opts.workers} driver "
          f"processes, client files {opts.client_file / MiB:g} MiB, {opts.repeat} "
          f"repetition(s), medians; dir {config['dir']}; {elapsed:.0f} s")
    head = ["figure", "unit", "ftpkit", "pyftpdlib", "raw", "ftpkit/pyftpdlib", "ftpkit/raw",
            "better"]
    rows = [[t["figure"], t["unit"], fmt(t["ftpkit"], t["unit"]), fmt(t["pyftpdlib"], t["unit"]),
             fmt(t["raw"], t["unit"]), fmt(t["ftpkit/pyftpdlib"], "ratio"),
             fmt(t["ftpkit/raw"], "ratio"), t["better"]] for t in table]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(c.ljust(w) if i < 2 else c.rjust(w)
                                for i, (c, w) in enumerate(zip(r, widths, strict=True))) + " |")
    print()
    for t in targets:
        verdict = {True: "met", False: "NOT met", None: "not judged at this N"
                   if t["value"] is not None else "not measured"}[t["met"]]
        print(f"target {t['target']}: {fmt(t['value'], 'ratio')} -> {verdict}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--driver":
        driver_main(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--pyftpd-server":
        pyftpd_main(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--raw-recv":
        raw_recv_main(sys.argv[2])
    elif len(sys.argv) > 1 and sys.argv[1] == "--raw-send":
        raw_send_main(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--canary":
        canary_main(int(sys.argv[2]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--spin":
        spin_main(float(sys.argv[2]))
    else:
        main()
