"""
How long a burst of connects or logins holds an open session's requests.

    .venv/bin/python scripts/measure_bursts.py [--sessions 200] [--mode connect|login]

Starts ftpkit as scripts/bench does (it imports it), keeps one logged-in session
listing a 10-entry directory back to back, then sends N plain TCP connects at once
(--mode connect: what the listener's accept pacing is about) or N connect+logins over
4 driver processes (--mode login), and prints the p99 and the six worst `ls` samples
with when each began, in seconds after the burst started. Run by hand, after
scripts/bench has installed its extra; not a test.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (scripts/bench.py, beside this file)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--mode", choices=("connect", "login"), default="connect")
    opts = parser.parse_args()
    bench.raise_nofile()
    n = opts.sessions
    run_opts = argparse.Namespace(backlog=bench.DEFAULT_BACKLOG, sessions=n, quick=True)
    base = Path(tempfile.mkdtemp(prefix="ftpkit-bursts-", dir="/dev/shm"))
    try:
        run = bench.ServerRun("ftpkit", run_opts, base, base / "unused", base / "unused", 0)
        workers = [bench.Driver("ftpkit", run.port, run.log) for _ in range(4)]
        run.control.call("ping_start")
        time.sleep(1.0)
        started = time.perf_counter()  # CLOCK_MONOTONIC: the driver's clock too
        if opts.mode == "connect":
            peers = [socket.create_connection(("127.0.0.1", run.port)) for _ in range(n)]
            time.sleep(2.0)
        else:
            for d in workers:
                d.send("login", n=n // 4, total=n)
            for d in workers:
                d.recv()
        took = time.perf_counter() - started
        time.sleep(0.5)
        pings = run.control.call("ping_stop")
        samples = sorted(zip(pings["ls_latencies"], pings["ls_starts"], strict=True),
                         reverse=True)
        ordered = sorted(pings["ls_latencies"])
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        print(f"{opts.mode} x {n}: {took:.2f} s, {len(samples)} ls samples, p99 "
              f"{1000 * p99:.1f} ms; worst: " + ", ".join(
                  f"{1000 * lat:.1f} ms at {at - started:+.2f} s" for lat, at in samples[:6]))
        if opts.mode == "connect":
            for peer in peers:
                peer.close()
    finally:
        bench.PROCS.kill_all()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
