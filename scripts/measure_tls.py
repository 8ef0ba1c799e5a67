"""
Compare one large put and get through the real CLI over TLS and over plain TCP.

    .venv/bin/python scripts/measure_tls.py [--size 1G] [--runs 3] [--dir /dev/shm]

One server listens on both (a plain tcp: and an ssl: endpoint, with a certificate
from scripts/make_cert.py); the runs alternate between the two so that both see
the same machine load. Prints each run and the medians. Run by hand; not a test.
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

from measure_transfer import prepare  # scripts/ is on sys.path when run as a script

from ftpkit.units import format_size, parse_size

BIN = Path(sys.executable).parent
SCRIPTS = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="1G")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None)
    opts = parser.parse_args()
    size = parse_size(opts.size, allow_unlimited=False) or 0
    with tempfile.TemporaryDirectory(dir=opts.dir) as tmp:
        work = Path(tmp)
        subprocess.run([sys.executable, str(SCRIPTS / "make_cert.py"), "--dir",
                        str(work / "tls")], check=True, capture_output=True)
        users, source = prepare(work, size)
        port_file = work / "port"
        tls = f"privateKey={work / 'tls/server.key'}:certKey={work / 'tls/server.pem'}"
        server = subprocess.Popen(
            [str(BIN / "twistd"), "--pidfile=", "--logfile=/dev/null", "-n", "ftpkit",
             "--listen", "tcp:0:interface=127.0.0.1",
             "--listen", f"ssl:0:interface=127.0.0.1:{tls}",
             "--port-file", str(port_file), "--root", str(work / "homes"),
             "--users", str(users)], cwd=work)
        try:
            while not port_file.exists():  # written once the server listens
                time.sleep(0.05)
            plain, secure = port_file.read_text().split()[:2]
            env = dict(os.environ, FTPKIT_PASSWORD="bench")
            modes = {"tcp": ["--port", plain],
                     "tls": ["--port", secure, "--cafile", str(work / "tls/ca.pem")]}
            took: dict[tuple[str, str], list[float]] = {}
            for run in range(opts.runs):
                for mode, flags in modes.items():
                    cli = [str(BIN / "ftpkit"), *flags, "--user", "bench"]
                    for verb, args in (("put", [str(source), f"big-{mode}.bin"]),
                                       ("get", [f"big-{mode}.bin", str(work / "copy.bin")])):
                        started = time.perf_counter()
                        subprocess.run([*cli, verb, "--no-progress", *args], env=env,
                                       check=True, stdout=subprocess.DEVNULL)
                        seconds = time.perf_counter() - started
                        took.setdefault((mode, verb), []).append(seconds)
                        print(f"run {run + 1} {mode} {verb} {format_size(size)}: {seconds:.2f} s, "
                              f"{size / seconds / 1e6:,.0f} MB/s", flush=True)
                    (work / "copy.bin").unlink()
            for (mode, verb), times in sorted(took.items()):
                median = statistics.median(times)
                print(f"median {mode} {verb}: {median:.2f} s, {size / median / 1e6:,.0f} MB/s")
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
