"""
The N-client phases of scripts/bench, paired: ftpkit and pyftpdlib both up at once.

    .venv/bin/python scripts/measure_clients.py [--sessions 200] [--client-file 10M]
                                                 [--rounds 8] [--workers 4] [--disk DIR]

scripts/bench measures each server's N-client upload and download once per
repetition, minutes apart; on a shared VM the machine's pace moves by more than the
difference between the servers in that time. Here both servers run side by side
with their N sessions logged in (idle sessions cost neither any CPU), and each round
measures ftpkit then pyftpdlib, or the other way round, back to back: a pair of
figures taken under the same load. It prints every round, the medians, how many
rounds each server won, and the CPU seconds each server and its drivers spent per
phase (medians). Same servers, drivers, settings and prefault as scripts/bench (it
imports them). Run by hand, after scripts/bench has installed
pyftpdlib; not a test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (scripts/bench.py, beside this file)

from ftpkit.units import parse_size  # noqa: E402

SERVERS = {"ftpkit": (bench.start_ftpkit, "ftpkit"),
           "pyftpdlib": (bench.start_pyftpdlib, "ftplib")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--client-file", default="10M")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--disk", metavar="DIR", help="homes under DIR, not /dev/shm")
    opts = parser.parse_args()
    bench.raise_nofile()
    n, size = opts.sessions, parse_size(opts.client_file, allow_unlimited=False)
    assert size
    base = Path(tempfile.mkdtemp(prefix="ftpkit-clients-", dir=opts.disk or "/dev/shm"))
    try:
        source = base / "client.bin"
        bench.write_random(source, size)
        setups = {}
        for name, (start, driver) in SERVERS.items():
            work = base / name
            (work / "homes" / bench.USER).mkdir(parents=True)
            (work / "local").mkdir()
            server, port = start(work, bench.DEFAULT_BACKLOG, n)
            workers = [bench.Driver(driver, port, work / "drivers.log")
                       for _ in range(opts.workers)]
            counts = [n // opts.workers + (i < n % opts.workers) for i in range(opts.workers)]
            for d, c in zip(workers, counts, strict=True):
                d.send("login", n=c, total=n)
            for d in workers:
                d.recv()
            setups[name] = (work, workers, server.pid)
        times: dict[str, dict[str, list[float]]] = {s: {"put": [], "get": []} for s in SERVERS}
        cpu: dict[str, dict[str, list[tuple[float, float]]]] = {
            s: {"put": [], "get": []} for s in SERVERS}
        for r in range(opts.rounds):
            order = list(SERVERS) if r % 2 == 0 else list(reversed(SERVERS))
            for name in order:
                work, workers, pid = setups[name]
                pids = [pid] + [w.proc.pid for w in workers]
                for op, args in (("put", {"src": str(source)}),
                                 ("get", {"dst_dir": str(work / "local")})):
                    bench.prefault(base, n * size)
                    before = [process_cpu(p) for p in pids]
                    times[name][op].append(bench.phase(workers, op, tag=f"r{r}-w{{i}}", **args))
                    used = [process_cpu(p) - b for p, b in zip(pids, before, strict=True)]
                    cpu[name][op].append((used[0], sum(used[1:])))
                for f in (work / "homes" / bench.USER).glob(f"r{r}-*"):
                    f.unlink()  # keep tmpfs from filling over the rounds
            print(f"round {r + 1}: " + ", ".join(
                f"{s} put {times[s]['put'][-1]:.2f} get {times[s]['get'][-1]:.2f} s"
                for s in SERVERS), flush=True)
        for op in ("put", "get"):
            ours, theirs = times["ftpkit"][op], times["pyftpdlib"][op]
            wins = sum(a < b for a, b in zip(ours, theirs, strict=True))
            a, b = statistics.median(ours), statistics.median(theirs)
            print(f"N-client {op}, {n} x {opts.client_file}: median ftpkit {a:.2f} s, "
                  f"pyftpdlib {b:.2f} s, ratio {a / b:.2f}; ftpkit faster in {wins} of "
                  f"{len(ours)} rounds")
            for name in SERVERS:
                server_s = statistics.median(c[0] for c in cpu[name][op])
                drivers_s = statistics.median(c[1] for c in cpu[name][op])
                print(f"  {name} CPU-s per {op} phase, medians: server {server_s:.2f}, "
                      f"drivers {drivers_s:.2f}")
    finally:
        bench.PROCS.kill_all()
        shutil.rmtree(base, ignore_errors=True)


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of process C{pid} so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
