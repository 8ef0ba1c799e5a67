"""Client TLS: CA files, what a failed handshake is reported as, the hello timeout."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from OpenSSL import SSL
from service_identity import VerificationError
from service_identity.hazmat import DNS_ID, DNSMismatch, IPAddress_ID, IPAddressMismatch
from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import ConnectionLost
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from ftpkit.cli import exits
from ftpkit.cli.client import build_parser
from ftpkit.client.api import Client, NoHello
from ftpkit.client.tls import TLSConfigError, TLSError, client_tls, tls_error
from tests.serverkit import result_of

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def test_an_unverified_chain_is_untrusted() -> None:
    error = tls_error(Failure(SSL.Error([("SSL routines", "", "certificate verify failed")])))
    assert error is not None and error.reason == "untrusted"
    assert str(error) == "the server's certificate is not trusted (certificate verify failed)"


def test_a_certificate_for_another_name() -> None:
    error = tls_error(Failure(VerificationError(errors=[
        DNSMismatch(mismatched_id=DNS_ID("files.example.org"))])))
    assert error is not None and error.reason == "hostname"
    assert str(error) == ("the server's certificate is not valid for this host (it does not "
                          "name files.example.org)")
    error = tls_error(Failure(VerificationError(errors=[
        IPAddressMismatch(mismatched_id=IPAddress_ID("10.0.0.1"))])))
    assert error is not None and "it does not name 10.0.0.1" in str(error)


def test_other_handshake_failures_and_other_losses() -> None:
    error = tls_error(Failure(SSL.Error([("SSL routines", "", "wrong version number")])))
    assert error is not None and error.reason == "handshake"
    assert str(error) == "the TLS handshake failed (wrong version number)"
    assert tls_error(Failure(ConnectionLost())) is None
    assert tls_error(None) is None


@pytest.mark.parametrize(("reason", "hint"), [
    ("untrusted", "give the CA certificate that signed it with --cafile FILE"),
    ("hostname", "--host"), ("handshake", "is that port serving TLS?")])
def test_the_cli_reports_tls_errors_as_connection_failures(reason: str, hint: str) -> None:
    err = io.StringIO()
    assert exits.report(TLSError(reason, "it failed"), err) == exits.CONNECTION
    assert err.getvalue().startswith("ftpkit: tls: it failed; ") and hint in err.getvalue()


def test_ca_files(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(SCRIPTS / "make_cert.py"), "--dir", str(tmp_path)],
                   check=True, capture_output=True, timeout=60)
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes((tmp_path / "ca.pem").read_bytes() + (tmp_path / "server.pem")
                       .read_bytes())
    assert client_tls("localhost", bundle) is not None
    assert client_tls("localhost") is not None  # the platform's store
    with pytest.raises(TLSConfigError, match="cannot read CA file .*nope.pem: No such file"):
        client_tls("localhost", tmp_path / "nope.pem")
    with pytest.raises(TLSConfigError, match="server.key: not a PEM certificate file"):
        client_tls("localhost", tmp_path / "server.key")


class SilentEndpoint:
    """Connects at once to a server that never says hello."""

    def __init__(self) -> None:
        self.transport = StringTransport()

    def connect(self, factory: Any) -> Deferred[Any]:
        protocol = factory.buildProtocol(None)
        protocol.makeConnection(self.transport)
        return succeed(protocol)


def test_no_hello_in_time_fails_the_connection() -> None:
    clock, endpoint = Clock(), SilentEndpoint()
    d = Client.connect(clock, endpoint, timeout=2)
    clock.advance(1.9)
    assert not d.called
    clock.advance(0.2)
    with pytest.raises(NoHello, match="the server sent no hello within 2 s"):
        result_of(d)
    assert endpoint.transport.disconnecting or endpoint.transport.disconnected


def test_connect_timeout_and_tls_flags_parse() -> None:
    opts = build_parser().parse_args(["--cafile", "ca.pem", "--connect-timeout", "2.5",
                                      "whoami"])
    assert (opts.tls, opts.cafile, opts.connect_timeout) == (False, "ca.pem", 2.5)
    assert build_parser().parse_args(["whoami"]).connect_timeout == 10


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "soon"])
def test_a_bad_connect_timeout_is_a_usage_error(value: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(["--connect-timeout", value, "whoami"])
    assert caught.value.code == 2
    assert "is not a number of seconds above 0" in capsys.readouterr().err
