"""
Operations against a real twistd: TLS with a made certificate, configs that are
refused, check-config, JSON and audit logs, SIGHUP for logrotate.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.integration.conftest import BIN, Server, admin, wait_for_line

pytestmark = pytest.mark.integration

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA and a server certificate from scripts/make_cert.py."""
    directory = tmp_path_factory.mktemp("tls")
    subprocess.run([sys.executable, str(SCRIPTS / "make_cert.py"), "--dir", str(directory)],
                   check=True, capture_output=True, timeout=60)
    return directory


def tls_listen(certs: Path) -> str:
    return (f"ssl:0:interface=127.0.0.1:privateKey={certs / 'server.key'}:"
            f"certKey={certs / 'server.pem'}")


@contextmanager
def started(tmp_path: Path, *extra: str, listen: str = "tcp:0:interface=127.0.0.1",
            log_file: Path | None = None) -> Iterator[Server]:
    """A running server with the user alice, as the C{server} fixture makes."""
    srv = Server(tmp_path, *extra, listen=listen, log_file=log_file)
    assert admin(srv.users, "add", "alice", "--quota", "10M", password="alice-pw").returncode == 0
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def tls_server(tmp_path: Path, certs: Path) -> Iterator[Server]:
    with started(tmp_path, listen=tls_listen(certs)) as srv:
        yield srv


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ftpkit.toml"
    path.write_text(text)
    return path


# -- TLS ----------------------------------------------------------------------


def test_a_session_and_transfers_over_tls(tls_server: Server, certs: Path,
                                          tmp_path: Path) -> None:
    ca = ["--cafile", str(certs / "ca.pem")]
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    put = tls_server.cli(*ca, "put", "--no-progress", str(source), "over-tls.bin")
    assert put.returncode == 0, put.stderr
    assert "verified" in put.stdout
    copy = tmp_path / "copy.bin"
    get = tls_server.cli(*ca, "get", "--no-progress", "over-tls.bin", str(copy))
    assert get.returncode == 0, get.stderr
    assert copy.read_bytes() == source.read_bytes()
    shell = tls_server.cli(*ca, "shell", stdin="mkdir d\ncd d\npwd\n")
    assert (shell.returncode, shell.stdout.strip()) == (0, "/d")


def test_an_untrusted_certificate_is_refused(tls_server: Server) -> None:
    result = tls_server.cli("--tls", "whoami")
    assert result.returncode == 3
    assert result.stderr.startswith(
        "ftpkit: tls: the server's certificate is not trusted (certificate verify failed); "
        "if you trust it, give the CA certificate that signed it with --cafile FILE")
    assert result.stdout == ""


def test_another_ca_is_not_trusted_either(tls_server: Server, tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(SCRIPTS / "make_cert.py"), "--dir",
                    str(tmp_path / "other")], check=True, capture_output=True, timeout=60)
    result = tls_server.cli("--cafile", str(tmp_path / "other" / "ca.pem"), "whoami")
    assert result.returncode == 3 and "certificate is not trusted" in result.stderr


def test_a_certificate_for_another_host_is_refused(tmp_path: Path) -> None:
    certs = tmp_path / "elsewhere"
    subprocess.run([sys.executable, str(SCRIPTS / "make_cert.py"), "--dir", str(certs),
                    "--no-loopback", "--host", "files.example.org"],
                   check=True, capture_output=True, timeout=60)
    with started(tmp_path, listen=tls_listen(certs)) as srv:
        result = srv.cli("--cafile", str(certs / "ca.pem"), "whoami")
    assert result.returncode == 3
    assert result.stderr == (
        "ftpkit: tls: the server's certificate is not valid for this host (it does not name "
        "127.0.0.1); connect with --host set to a name the certificate lists\n")


def test_a_plain_client_on_a_tls_port_gets_a_clear_error_quickly(tls_server: Server) -> None:
    began = time.monotonic()
    result = tls_server.cli("--connect-timeout", "1", "whoami", timeout=30)
    assert time.monotonic() - began < 15
    assert result.returncode == 3
    assert result.stderr == (
        f"ftpkit: connection_failed: cannot connect to 127.0.0.1:{tls_server.port}: the "
        "server sent no hello within 1 s; if that port serves TLS, use --tls\n")


def test_a_tls_client_on_a_plain_port_gets_a_clear_error(server: Server, certs: Path) -> None:
    result = server.cli("--cafile", str(certs / "ca.pem"), "whoami")
    assert result.returncode == 3
    assert result.stderr.startswith("ftpkit: tls: the TLS handshake failed (")
    assert result.stderr.endswith("; is that port serving TLS?\n")


def test_an_unreadable_ca_file_is_a_usage_error(tls_server: Server, tmp_path: Path) -> None:
    result = tls_server.cli("--cafile", str(tmp_path / "nope.pem"), "whoami")
    assert result.returncode == 2
    assert result.stderr == (f"ftpkit: tls: cannot read CA file {tmp_path / 'nope.pem'}: "
                             "No such file or directory\n")


# -- configuration ----------------------------------------------------------------


def twistd(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "twistd"), "--pidfile=", "--logfile=-", "-n", "ftpkit", "--listen",
         "tcp:0:interface=127.0.0.1", "--root", str(tmp_path / "homes"), "--users",
         str(tmp_path / "users.sqlite"), *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("text", "message"), [
    ("[server]\nthreads = 0\n", "server.threads must be an integer >= 1, not 0"),
    ('[logging]\nlevel = "loud"\n', "logging.level must be one of debug, info, warn, "
                                    "error, critical, not 'loud'"),
    ("[limits]\nmax_frames = 1\n", "unknown key limits.max_frames;"),
])
def test_a_bad_config_stops_startup_naming_the_key(tmp_path: Path, text: str,
                                                   message: str) -> None:
    result = twistd(tmp_path, "--config", str(write_config(tmp_path, text)))
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_an_unreadable_certificate_stops_startup(tmp_path: Path) -> None:
    result = twistd(tmp_path, "--listen", "ssl:0:privateKey=missing.key:certKey=missing.pem")
    assert result.returncode == 1
    assert result.stderr.startswith("ftpkit: cannot start: bad listen endpoint 'ssl:0:")
    assert "cannot read" in result.stderr and "Traceback" not in result.stderr


def test_check_config(tmp_path: Path, certs: Path) -> None:
    good = write_config(tmp_path, f'[server]\nlisten = ["{tls_listen(certs)}"]\n')
    result = subprocess.run([str(BIN / "ftpkit-admin"), "check-config", str(good)],
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout.splitlines()[0]) == (0, "ok"), result.stderr
    bad = write_config(tmp_path, '[transfers]\nchecksum = "crc32"\n')
    result = subprocess.run([str(BIN / "ftpkit-admin"), "check-config", str(bad)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith(f"ftpkit-admin: {bad}: transfers.checksum must be one of")


# -- logs and audit -----------------------------------------------------------


def test_json_log_lines_and_an_audit_record_for_a_put(tmp_path: Path) -> None:
    config = write_config(tmp_path, '[logging]\nformat = "json"\naudit = "audit.jsonl"\n')
    with started(tmp_path, "--config", str(config)) as srv:
        source = tmp_path / "up.bin"
        source.write_bytes(b"x" * 1000)
        assert srv.cli("put", "--no-progress", str(source), "up.bin").returncode == 0
        line = wait_for_line(tmp_path / "audit.jsonl", '"operation": "put"')
        log = srv.log
    records = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert any(r["message"] == "ftpkit ready" and r["level"] == "info" for r in records)
    assert any(r["message"].startswith("login ok user=alice") for r in records)
    assert not any(r["system"] == "ftpkit.audit" for r in records)  # they have their file
    record = json.loads(line)
    assert set(record) == {"time", "user", "peer", "operation", "path", "dst", "bytes",
                           "result", "duration_ms"}
    assert (record["user"], record["operation"], record["path"], record["bytes"],
            record["result"]) == ("alice", "put", "/up.bin", 1000, "ok")
    assert record["peer"].startswith("127.0.0.1:") and record["duration_ms"] >= 0


def test_sighup_reopens_the_log_files(tmp_path: Path) -> None:
    log, audit = tmp_path / "log" / "ftpkit.log", tmp_path / "log" / "audit.jsonl"
    config = write_config(tmp_path, '[logging]\nfile = "log/ftpkit.log"\n'
                                    'audit = "log/audit.jsonl"\n')
    with started(tmp_path, "--config", str(config), log_file=log) as srv:
        assert srv.cli("whoami").returncode == 0
        wait_for_line(audit, '"operation": "login"')
        log.rename(log.with_name("ftpkit.log.1"))
        audit.rename(audit.with_name("audit.jsonl.1"))
        assert srv.process is not None
        srv.process.send_signal(signal.SIGHUP)
        wait_for_line(log, "log files reopened")
        assert srv.cli("whoami").returncode == 0
        wait_for_line(audit, '"operation": "login"')
    assert "ftpkit ready" in log.with_name("ftpkit.log.1").read_text()
    assert "ftpkit ready" not in log.read_text()
    assert len(audit.with_name("audit.jsonl.1").read_text().splitlines()) == 1
    assert srv.lines == []  # nothing went to twistd's --logfile
