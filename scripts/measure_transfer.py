"""
Measure one large put and get through the real CLI: throughput, and the server's RSS.

    .venv/bin/python scripts/measure_transfer.py [--size 2G] [--dir /dev/shm]

Samples the server's resident memory (VmRSS) every 50 ms while each transfer
runs and prints start, peak and end, and the growth of the kernel's high-water
mark (VmHWM) across the transfer, which no sample can miss. A login runs first:
argon2id verification takes 64 MiB by design, and that peak is not a transfer's.
Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ftpkit.units import format_size, parse_size

BIN = Path(sys.executable).parent


def rss(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def sampled(pid: int, command: list[str], env: dict[str, str]) -> tuple[float, list[int]]:
    samples: list[int] = [rss(pid)]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):  # a sampling interval, not a synchronisation
            samples.append(rss(pid))

    thread = threading.Thread(target=sample)
    thread.start()
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    took = time.perf_counter() - started
    done.set()
    thread.join()
    samples.append(rss(pid))
    return took, samples


def prepare(work: Path, size: int) -> tuple[Path, Path]:
    """In C{work}: a user database with user bench (password bench), a C{size}-byte file."""
    users = work / "users.sqlite"
    subprocess.run([str(BIN / "ftpkit-admin"), "--users", str(users), "add", "bench"],
                   input="bench\n", text=True, check=True, capture_output=True)
    source = work / "source.bin"
    with open(source, "wb") as f:
        block = os.urandom(1 << 20)
        for _ in range(size >> 20):
            f.write(block)
    return users, source


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="2G")
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None)
    opts = parser.parse_args()
    size = parse_size(opts.size, allow_unlimited=False) or 0
    with tempfile.TemporaryDirectory(dir=opts.dir) as tmp:
        work = Path(tmp)
        users, source = prepare(work, size)
        port_file = work / "port"
        server = subprocess.Popen(
            [str(BIN / "twistd"), "--pidfile=", "--logfile=/dev/null", "-n", "ftpkit",
             "--listen", "tcp:0:interface=127.0.0.1", "--port-file", str(port_file),
             "--root", str(work / "homes"), "--users", str(users)], cwd=work)
        try:
            while not port_file.exists():  # written once the server listens
                time.sleep(0.05)
            port = port_file.read_text().split()[0]
            env = dict(os.environ, FTPKIT_PASSWORD="bench")
            cli = [str(BIN / "ftpkit"), "--port", port, "--user", "bench"]
            subprocess.run([*cli, "whoami"], env=env, check=True, stdout=subprocess.DEVNULL)
            for verb, args in (("put", [str(source), "big.bin"]),
                               ("get", ["big.bin", str(work / "copy.bin")])):
                hwm = rss(server.pid, "VmHWM")
                took, samples = sampled(server.pid, [*cli, verb, "--no-progress", *args], env)
                print(f"{verb} {format_size(size)}: {took:.2f} s, {size / took / 1e6:,.0f} MB/s; "
                      f"server RSS start {format_size(samples[0])}, peak "
                      f"{format_size(max(samples))}, end {format_size(samples[-1])}; "
                      f"high-water mark +{format_size(rss(server.pid, 'VmHWM') - hwm)}")
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
