"""
Measure: list a directory of N entries while another session keeps asking `pwd`.

    .venv/bin/python scripts/measure_listing.py [--entries 100000] [--page 1000] [--dir /dev/shm]

Prints the listing's time and the other session's round-trip latency (median, p99,
max) while the listing runs, against the same figures with nothing else running.
Run by hand (and by scripts/bench once it exists); not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import react

BIN = Path(sys.executable).parent


def start_server(work: Path) -> tuple[subprocess.Popen[str], int]:
    port_file = work / "port"
    proc = subprocess.Popen(
        [str(BIN / "twistd"), "--pidfile=", "--logfile=/dev/null", "-n", "ftpkit",
         "--listen", "tcp:0:interface=127.0.0.1", "--port-file", str(port_file),
         "--root", str(work / "homes"), "--users", str(work / "users.sqlite")],
        cwd=work, stdout=subprocess.PIPE, text=True)
    while not port_file.exists():  # the server writes it once listening
        if proc.poll() is not None:
            raise SystemExit("server failed to start")
        time.sleep(0.05)
    return proc, int(port_file.read_text().split()[0])


async def measure(reactor: Any, port: int, page: int, entries: int) -> None:
    from ftpkit.client.api import Client

    endpoint = f"tcp:127.0.0.1:{port}"
    lister = await Client.connect(reactor, endpoint)
    pinger = await Client.connect(reactor, endpoint)
    await lister.login("bench", "bench")
    await pinger.login("bench", "bench")

    async def ping_until(done: Deferred[None] | None, count: int = 200) -> list[float]:
        latencies = []
        while (done is not None and not done.called) or (done is None and count > 0):
            started = time.perf_counter()
            await pinger.pwd()
            latencies.append(time.perf_counter() - started)
            count -= 1
        return latencies

    idle = await ping_until(None)

    async def list_all() -> int:
        n = 0
        async for _ in lister.ls_all("/big", page=page):
            n += 1
        return n

    started = time.perf_counter()
    listing = Deferred.fromCoroutine(list_all())
    busy = await ping_until(listing)
    n = await listing
    took = time.perf_counter() - started
    assert n == entries, (n, entries)

    def ms(xs: list[float], q: float) -> str:
        xs = sorted(xs)
        return f"{1000 * xs[min(len(xs) - 1, int(q * len(xs)))]:.1f}"

    print(f"listing {n} entries, page {page}: {took:.2f} s ({n / took:,.0f} entries/s)")
    for name, xs in (("idle", idle), ("during listing", busy)):
        print(f"  other session pwd round trip, {name}: median {1000 * statistics.median(xs):.1f}"
              f" ms, p99 {ms(xs, 0.99)} ms, max {1000 * max(xs):.1f} ms ({len(xs)} samples)")
    await lister.quit()
    await pinger.quit()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=1000)
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=opts.dir) as tmp:
        work = Path(tmp)
        subprocess.run([str(BIN / "ftpkit-admin"), "--users", str(work / "users.sqlite"),
                        "add", "bench"], input="bench\n", text=True, check=True,
                       capture_output=True)
        big = work / "homes" / "bench" / "big"
        big.mkdir(parents=True)
        for i in range(opts.entries):
            os.close(os.open(big / f"file-{i:07d}.dat", os.O_CREAT | os.O_WRONLY, 0o600))
        proc, port = start_server(work)
        try:
            react(lambda reactor: Deferred.fromCoroutine(
                measure(reactor, port, opts.page, opts.entries)))
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
