"""
Soak test: N clients doing random operations against a real server for T minutes,
then the invariants. Run through scripts/soak (see --help).

Each client works in its own directory of a shared user's home (5 clients per
user), so it knows what it has been told is stored: the acknowledged files and
their SHA-256. The operations: put (new files and overwrites), get (verified), ls
(checked against the client's model), mkdir, mv, rm; puts and gets killed midway
(the connection aborted, or a real CLI process SIGKILLed) and resumed later. One
extra session per user stays open throughout, so that the server's quota account
is the running one, not a fresh scan.

At the end every killed upload is resumed, and then:
  - every acknowledged file is on disk, intact by checksum, and nothing else is;
  - each user's quota (used bytes, file count) equals a walk of the home;
  - no staging file is left behind in any home;
  - the server's RSS is stable over the second half of the run;
  - no operation failed in a way it should not have, and the server logged no
    traceback; SIGTERM stops it with exit 0.

Prints the figures, and exits 0 only if every invariant holds.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twisted.internet import task
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.error import ConnectionDone, ConnectionLost

from ftpkit.client.api import Client
from ftpkit.client.protocol import ConnectionClosed, RemoteError
from ftpkit.storage import checksums

BIN = Path(sys.executable).parent
KiB, MiB = 1024, 1024 * 1024
CLIENTS_PER_USER = 5
BUDGET = 96 * MiB  # what one client keeps stored, about: past it, it removes files
# Errors an operation may meet without anything being wrong (the kills catch their own
# cut connections; any other cut connection is a problem: it would leave the outcome of
# the operation unknown).
EXPECTED = {"too_many_transfers"}


@dataclass
class Stats:
    ops: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    resumed_puts: int = 0
    resumed_gets: int = 0
    bytes_up: int = 0
    bytes_down: int = 0

    def problem(self, text: str) -> None:
        self.problems.append(text)
        print(f"PROBLEM: {text}", file=sys.stderr, flush=True)


def digest(path: Path) -> str:
    """The file's checksum in the server's default algorithm (what put and get report)."""
    h = checksums.new_hasher(checksums.DEFAULT_ALGORITHM)
    with path.open("rb") as f:
        while chunk := f.read(MiB):
            h.update(chunk)
    return h.hexdigest()


def code_of(error: BaseException) -> str:
    if isinstance(error, RemoteError):
        return error.code
    if isinstance(error, ConnectionClosed | ConnectionLost | ConnectionDone):
        return "connection_closed"
    return type(error).__name__


class Soaker:
    """One client: a random walk of operations, and the model of what it stored."""

    def __init__(self, reactor: Any, index: int, user: str, port: int, local: Path,
                 stats: Stats, deadline: float, seed: int) -> None:
        self.reactor = reactor
        self.index = index
        self.user = user
        self.port = port
        self.local = local
        self.stats = stats
        self.deadline = deadline
        self.rng = random.Random(seed)
        self.base = f"/c{index}"
        self.dirs = [self.base]
        self.files: dict[str, str] = {}  # remote path -> digest: acknowledged
        # remote -> (local file, digest, when): uploads cut midway, to be resumed
        self.killed: dict[str, tuple[Path, str, float]] = {}
        self.client: Client | None = None
        self.serial = 0
        self.trail: dict[str, list[str]] = {}  # remote -> what happened to it, for reports
        self.sizes: dict[str, int] = {}  # remote -> size, of the acknowledged files
        self.ever_killed: set[str] = set()  # remotes whose upload was cut at least once

    def note(self, remote: str, event: str) -> None:
        self.trail.setdefault(remote, []).append(f"{self.reactor.seconds():.1f} {event}")

    def differs(self, what: str, remote: str, local: Path) -> None:
        self.stats.problem(f"{what} {remote}: content differs from what was put (got "
                           f"{local.stat().st_size} bytes, digest {digest(local)[:12]}; "
                           f"expected {self.files[remote][:12]}); its history: "
                           f"{self.trail.get(remote)}")

    # -- plumbing -----------------------------------------------------------------

    async def connected(self) -> Client:
        if self.client is None or self.client.protocol.transport is None \
                or not self.client.protocol.transport.connected:
            client = await Client.connect(self.reactor, f"tcp:127.0.0.1:{self.port}")
            await client.login(self.user, "pw-" + self.user)
            self.client = client
        return self.client

    def kill(self, client: Client | None = None) -> None:
        """Cut the connection (of C{client}, if given) as a crash would: no goodbye."""
        if self.client is not None and client in (None, self.client):
            self.client.protocol.transport.abortConnection()
            self.client = None

    def kill_later(self, client: Client, low: float, high: float) -> Any:
        return self.reactor.callLater(self.rng.uniform(low, high), self.kill, client)

    def new_local(self, size: int) -> tuple[Path, str]:
        self.serial += 1
        path = self.local / f"up{self.serial}.bin"
        path.write_bytes(self.rng.randbytes(size))
        return path, digest(path)

    def new_remote(self) -> str:
        self.serial += 1
        return f"{self.rng.choice(self.dirs)}/f{self.serial}.bin"

    def size(self) -> int:
        kind = self.rng.random()
        if kind < 0.1:
            return 0
        if kind < 0.6:
            return self.rng.randrange(1, 64 * KiB)
        if kind < 0.95:
            return self.rng.randrange(64 * KiB, MiB)
        return self.rng.randrange(MiB, 3 * MiB)

    def after(self, seconds: float) -> Deferred[None]:
        return task.deferLater(self.reactor, seconds, lambda: None)

    # -- the walk -------------------------------------------------------------------

    async def run(self) -> None:
        client = await self.connected()
        await client.mkdir(self.base)
        ops = [(self.put, 20), (self.get, 15), (self.ls, 10), (self.mkdir, 3), (self.mv, 6),
               (self.rm, 5), (self.kill_put, 4), (self.resume_put, 4), (self.kill_get, 3),
               (self.kill_cli_put, 1)]
        funcs, weights = zip(*ops, strict=True)
        while self.reactor.seconds() < self.deadline:
            op = self.rng.choices(funcs, weights)[0]
            if sum(self.sizes.values()) > BUDGET and self.rng.random() < 0.5:
                op = self.rm  # keep what a long soak stores bounded
            name = op.__name__
            try:
                await op()
                self.stats.ops[name] += 1
            except Exception as e:  # noqa: BLE001 - every failure is judged here
                code = code_of(e)
                self.stats.errors[f"{name}:{code}"] += 1
                if code not in EXPECTED:
                    self.stats.problem(f"client {self.index} {name}: {e!r}")
                    self.kill()
                await self.after(0.2)
        await self.after(1.0)  # let the server notice the last cut connections
        await self.finish()

    async def finish(self) -> None:
        """Resume every killed upload, so nothing staged is left; then quit."""
        for _ in range(300):  # at most a couple of minutes: every client ends like this
            if not self.killed:
                break
            try:
                await self.resume_put()
            except Exception as e:  # noqa: BLE001
                if code_of(e) not in EXPECTED:
                    self.stats.problem(f"client {self.index} final resume: {e!r}")
                    self.kill()
                await self.after(0.5)
        if self.killed:
            self.stats.problem(f"client {self.index}: {len(self.killed)} uploads never resumed")
        client = await self.connected()
        await client.quit()

    # -- operations --------------------------------------------------------------------

    async def put(self) -> None:
        client = await self.connected()
        if self.files and self.rng.random() < 0.2:
            remote = self.rng.choice(sorted(self.files))  # overwrite
        else:
            remote = self.new_remote()
        local, digest = self.new_local(self.size())
        try:
            result = await client.put(local, remote)
        finally:
            local.unlink()
        if result["checksum"] != digest:
            self.stats.problem(f"put {remote}: server checksum {result['checksum']}")
        self.files[result["path"]] = digest
        self.sizes[result["path"]] = result["size"]
        self.note(result["path"], f"put {result['size']} {digest[:12]} "
                                  f"resumed_from={result['resumed_from']}")
        self.stats.bytes_up += result["size"]

    async def get(self) -> None:
        if not self.files:
            return
        client = await self.connected()
        remote = self.rng.choice(sorted(self.files))
        local = self.local / "down.bin"
        result = await client.get(remote, local)
        if digest(local) != self.files[remote]:
            self.differs("get", remote, local)
        self.stats.bytes_down += result["size"]
        local.unlink()

    async def ls(self) -> None:
        client = await self.connected()
        where = self.rng.choice(self.dirs)
        names = {e["name"] async for e in client.ls_all(where) if e["type"] == "file"}
        want = {p.rsplit("/", 1)[1] for p in self.files if p.rsplit("/", 1)[0] == where}
        if names != want:
            self.stats.problem(f"ls {where}: {sorted(names ^ want)} differ from the model")

    async def mkdir(self) -> None:
        if len(self.dirs) >= 8:
            return
        client = await self.connected()
        self.serial += 1
        path = f"{self.rng.choice(self.dirs[:4])}/d{self.serial}"
        await client.mkdir(path)
        self.dirs.append(path)

    async def mv(self) -> None:
        if not self.files:
            return
        client = await self.connected()
        src = self.rng.choice(sorted(self.files))
        dst = self.new_remote()
        result = await client.mv(src, dst)
        self.files[result["dst"]] = self.files.pop(src)
        self.sizes[result["dst"]] = self.sizes.pop(src)
        self.trail[result["dst"]] = [*self.trail.pop(src, []), f"mv from {src}"]

    async def rm(self) -> None:
        if not self.files:
            return
        client = await self.connected()
        path = self.rng.choice(sorted(self.files))
        await client.rm(path)
        del self.files[path]
        del self.sizes[path]
        self.note(path, "rm")

    async def kill_put(self) -> None:
        """Start a slow upload, then cut the connection midway."""
        client = await self.connected()
        remote = self.new_remote()
        # 2-3 MiB at 1 MiB/s, cut within 0.8 s: it cannot finish first
        local, digest = self.new_local(self.rng.randrange(2 * MiB, 3 * MiB))
        self.killed[remote] = (local, digest, self.reactor.seconds())
        self.note(remote, f"kill_put {local.stat().st_size} {digest[:12]}")
        self.ever_killed.add(remote)
        cut = self.kill_later(client, 0.1, 0.8)
        try:
            await client.put(local, remote, rate=MiB)
        except RemoteError as e:
            if e.code != "too_many_transfers":
                raise
            del self.killed[remote]
            local.unlink()
            return
        except (ConnectionClosed, ConnectionLost):
            return
        finally:
            if cut.active():
                cut.cancel()
        self.stats.problem(f"kill_put {remote}: finished before it was cut")

    async def kill_cli_put(self) -> None:
        """The same with the real CLI, SIGKILLed."""
        remote = self.new_remote()
        # 3-4 MiB at 1 MiB/s, killed within 1.5 s of the start: it cannot finish first
        local, digest = self.new_local(self.rng.randrange(3 * MiB, 4 * MiB))
        self.killed[remote] = (local, digest, float("inf"))
        self.note(remote, f"kill_cli_put {local.stat().st_size} {digest[:12]}")
        self.ever_killed.add(remote)
        env = {**os.environ, "FTPKIT_PASSWORD": "pw-" + self.user}
        proc = subprocess.Popen(
            [str(BIN / "ftpkit"), "--port", str(self.port), "--user", self.user, "put",
             "--no-progress", "--limit-rate", "1M", str(local), remote],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=env)
        await self.after(self.rng.uniform(0.6, 1.5))
        proc.kill()
        while proc.poll() is None:
            await self.after(0.05)
        self.killed[remote] = (local, digest, self.reactor.seconds())

    async def resume_put(self) -> None:
        if not self.killed:
            return
        client = await self.connected()
        remote = self.rng.choice(sorted(self.killed))
        local, digest, when = self.killed[remote]
        # give the server time to notice the cut, or it starts over beside the old staging
        if (wait := when + 1.0 - self.reactor.seconds()) > 0:
            await self.after(wait)
        result = await client.put(local, remote)
        if result["checksum"] != digest:
            self.stats.problem(f"resumed put {remote}: server checksum {result['checksum']}")
        del self.killed[remote]
        local.unlink()
        self.files[result["path"]] = digest
        self.sizes[result["path"]] = result["size"]
        self.note(result["path"], f"resumed put {digest[:12]} from {result['resumed_from']}")
        self.stats.bytes_up += result["size"] - result["resumed_from"]
        if result["resumed_from"]:
            self.stats.resumed_puts += 1

    async def kill_get(self) -> None:
        """A slow download cut midway, then resumed."""
        big = [p for p in sorted(self.files) if p.endswith(".bin")]
        if not big:
            return
        remote = self.rng.choice(big)
        local = self.local / "resumed.bin"
        client = await self.connected()
        cut = self.kill_later(client, 0.1, 0.5)
        try:
            await client.get(remote, local, rate=MiB)
        except (ConnectionClosed, ConnectionLost):
            pass
        finally:
            if cut.active():
                cut.cancel()
        client = await self.connected()
        result = await client.get(remote, local)
        if digest(local) != self.files[remote]:
            self.differs("resumed get", remote, local)
        if result["resumed_from"]:
            self.stats.resumed_gets += 1
        local.unlink()


# -- the server and the checks ------------------------------------------------------------


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def start_server(work: Path, users: list[str], clients: int) -> tuple[subprocess.Popen[str], int]:
    db = work / "users.sqlite"
    for user in users:
        subprocess.run([str(BIN / "ftpkit-admin"), "--users", str(db), "add", user,
                        "--quota", "4G"], input=f"pw-{user}\n", text=True, check=True,
                       capture_output=True)
    config = work / "soak.toml"
    config.write_text(
        "[limits]\n"
        f"max_connections_per_ip = {clients * 3 + 50}\n"  # all clients come from loopback
        "max_transfers_per_user = 4\n")
    port_file = work / "port"
    log = (work / "server.log").open("w")
    proc = subprocess.Popen(
        [str(BIN / "twistd"), "--pidfile=", "--logfile=-", "-n", "ftpkit", "--config",
         str(config), "--listen", "tcp:0:interface=127.0.0.1", "--port-file", str(port_file),
         "--root", str(work / "homes"), "--users", str(db)],
        cwd=work, stdout=log, stderr=subprocess.STDOUT, text=True)
    atexit.register(lambda: proc.poll() is None and proc.kill())  # however the soak ends
    deadline = time.monotonic() + 60
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the server did not start:\n" + (work / "server.log").read_text())
        time.sleep(0.05)
    return proc, int(port_file.read_text().split()[0])


def walk(home: Path) -> tuple[int, int, dict[str, Path]]:
    """Bytes and count of what quota counts, and the user's files by virtual path."""
    used = files = 0
    found: dict[str, Path] = {}
    for path in home.rglob("*"):
        rel = path.relative_to(home)
        if rel.parts[0] == ".ftpkit":
            if path.suffix == ".part":
                used += path.stat().st_size
            continue
        if path.is_symlink() or not path.is_dir():
            files += 1
            used += path.lstat().st_size if path.is_file() else 0
            found["/" + str(rel)] = path
    return used, files, found


def staged_path(staged: Path) -> str | None:
    """The path a staged upload is for, from its note (None: no readable note)."""
    try:
        note = json.loads(staged.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return None
    return note.get("path") if isinstance(note, dict) else None


def staging_left(home: Path) -> list[Path]:
    staging = home / ".ftpkit" / "staging"
    return sorted(staging.iterdir()) if staging.is_dir() else []


async def soak(reactor: Any, args: argparse.Namespace, work: Path) -> int:
    n_users = max(1, -(-args.clients // CLIENTS_PER_USER))
    users = [f"soak{i}" for i in range(n_users)]
    server, port = start_server(work, users, args.clients)
    try:
        return await _soak(reactor, args, work, users, server, port)
    finally:
        if server.poll() is None:
            server.kill()


async def _soak(reactor: Any, args: argparse.Namespace, work: Path, users: list[str],
                server: subprocess.Popen[str], port: int) -> int:
    stats = Stats()
    samples: list[tuple[float, int]] = []
    start = reactor.seconds()
    sampler = task.LoopingCall(lambda: samples.append((reactor.seconds() - start,
                                                       rss_kib(server.pid))))
    sampler.clock = reactor
    sampler.start(args.sample)
    watchers = []
    for user in users:  # keeps each user's running quota account alive
        watcher = await Client.connect(reactor, f"tcp:127.0.0.1:{port}")
        await watcher.login(user, "pw-" + user)
        watchers.append(watcher)
    keepalive = task.LoopingCall(lambda: [w.quota() for w in watchers])
    keepalive.clock = reactor
    keepalive.start(60, now=False)

    deadline = start + args.seconds
    soakers = []
    for i in range(args.clients):
        local = work / "local" / f"c{i}"
        local.mkdir(parents=True)
        soakers.append(Soaker(reactor, i, users[i // CLIENTS_PER_USER], port, local, stats,
                              deadline, args.seed * 1000 + i))
    results = await _gather([ensureDeferred(s.run()) for s in soakers])
    for i, outcome in enumerate(results):
        if isinstance(outcome, BaseException):
            stats.problem(f"client {i} stopped: {outcome!r}")
    keepalive.stop()
    await _settle(reactor, work, users)

    print(f"== soak: {args.clients} clients, {len(users)} users, "
          f"{args.seconds / 60:.1f} min, seed {args.seed}")
    print(f"operations: {sum(stats.ops.values())} ok  {dict(sorted(stats.ops.items()))}")
    print(f"errors (expected kinds): {dict(sorted(stats.errors.items()))}")
    print(f"resumed: {stats.resumed_puts} puts, {stats.resumed_gets} gets; moved "
          f"{stats.bytes_up / MiB:.0f} MiB up, {stats.bytes_down / MiB:.0f} MiB down")
    for user, watcher in zip(users, watchers, strict=True):
        home = work / "homes" / user
        quota = await watcher.quota()
        used, files, found = walk(home)
        if (quota["used"], quota["files"]) != (used, files):
            stats.problem(f"{user}: quota says used={quota['used']} files={quota['files']}, "
                          f"the disk used={used} files={files}")
        if quota["free"] != quota["limit"] - quota["used"]:  # nothing runs: nothing reserved
            stats.problem(f"{user}: {quota['limit'] - quota['used'] - quota['free']} bytes "
                          "still reserved with no upload running")
        left = staging_left(home)
        cut = {path for s in soakers if s.user == user for path in s.ever_killed}
        leaks = [p.name for p in left if staged_path(p) not in cut]
        if leaks:  # only the partial of a cut upload may stay (its bytes are in the quota)
            stats.problem(f"{user}: staging files left that no cut upload explains: {leaks}")
        model = {path: digest for s in soakers if s.user == user for path, digest in
                 s.files.items()}
        if set(model) != set(found):
            stats.problem(f"{user}: files on disk {sorted(set(found) ^ set(model))[:5]} "
                          "differ from the acknowledged ones")
        bad = [p for p, want in model.items() if p in found and digest(found[p]) != want]
        if bad:
            stats.problem(f"{user}: files corrupted: {bad[:5]}")
        print(f"{user}: {files} files, {used / MiB:.1f} MiB; quota agrees: "
              f"{(quota['used'], quota['files']) == (used, files)}; staging left: "
              f"{len(left) // 2} (partials of cut uploads, counted in the quota), "
              f"unexplained: {len(leaks)}")
        watcher.close()
    sampler.stop()
    check_rss(samples, stats)
    await _sessions_ended(reactor, work)  # the watchers' closes reach the server
    server.send_signal(signal.SIGTERM)
    code = await _exit_code(reactor, server)
    log = (work / "server.log").read_text()
    if code != 0:
        stats.problem(f"the server exited {code} on SIGTERM")
    if "shutting down: 0 sessions, 0 transfers under way" not in log:
        stats.problem("at SIGTERM the server still counted sessions or transfers running")
    if "Traceback" in log or "internal_error" in log:
        stats.problem("the server log has a traceback or an internal_error "
                      f"(see {work / 'server.log'})")
    print("invariants:", "ALL HOLD" if not stats.problems else
          f"{len(stats.problems)} PROBLEMS")
    return 0 if not stats.problems else 1


def check_rss(samples: list[tuple[float, int]], stats: Stats) -> None:
    """
    The server's RSS must not grow over the second half of the run. Password checks
    (argon2, 64 MiB each) make it spike and fall back, so each quarter is judged by
    its floor (the lowest sample): the floor of the last quarter may not exceed that
    of the third by more than 10% + 8 MiB.
    """
    n = len(samples)
    print(f"server RSS: start {samples[0][1] / 1024:.1f} MiB, half-way "
          f"{samples[n // 2][1] / 1024:.1f} MiB, end {samples[-1][1] / 1024:.1f} MiB, "
          f"max {max(r for _, r in samples) / 1024:.1f} MiB ({n} samples)")
    if n < 8:
        stats.problem("too few RSS samples")
        return
    third = min(r for _, r in samples[n // 2: 3 * n // 4])
    last = min(r for _, r in samples[3 * n // 4:])
    print(f"server RSS floor: third quarter {third / 1024:.1f} MiB, last quarter "
          f"{last / 1024:.1f} MiB")
    if last > third * 1.10 + 8192:
        stats.problem(f"server RSS grew from {third / 1024:.1f} to {last / 1024:.1f} MiB "
                      "over the second half")


async def _gather(ds: list[Deferred[None]]) -> list[Any]:
    out: list[Any] = []
    for d in ds:
        try:
            out.append(await d)
        except Exception as e:  # noqa: BLE001
            out.append(e)
    return out


async def _settle(reactor: Any, work: Path, users: list[str]) -> None:
    """Give the server a moment to finish closing the last sessions (bounded)."""
    for _ in range(100):
        if not any(p.suffix == ".part" for u in users for p in staging_left(work / "homes" / u)):
            return
        await task.deferLater(reactor, 0.05, lambda: None)


async def _sessions_ended(reactor: Any, work: Path) -> None:
    """Wait (bounded) until the server has logged the end of every session it started."""
    for _ in range(200):
        log = (work / "server.log").read_text()
        if log.count("] session start ") == log.count("] session end "):
            return
        await task.deferLater(reactor, 0.05, lambda: None)


async def _exit_code(reactor: Any, proc: subprocess.Popen[str]) -> int | None:
    for _ in range(1200):
        if proc.poll() is not None:
            return proc.returncode
        await task.deferLater(reactor, 0.05, lambda: None)
    proc.kill()
    return None


def main() -> None:
    parser = argparse.ArgumentParser(prog="scripts/soak", description=__doc__.split("\n")[1])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--quick", action="store_true",
                        help="8 clients for 45 s: the CI variant (under 2 minutes)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where homes and local files go [a new directory in /dev/shm]")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    if args.quick:
        args.clients, args.minutes = 8, 0.75
    args.seconds = args.minutes * 60
    args.sample = max(1.0, min(10.0, args.seconds / 60))
    shm = Path("/dev/shm")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="ftpkit-soak-",
                                                 dir=shm if shm.is_dir() else None))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work directory: {work}", flush=True)
    try:
        task.react(lambda reactor: ensureDeferred(_exit(reactor, args, work)))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


async def _exit(reactor: Any, args: argparse.Namespace, work: Path) -> None:
    code = await soak(reactor, args, work)
    if code:
        raise SystemExit(code)


if __name__ == "__main__":
    main()
