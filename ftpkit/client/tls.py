"""
TLS for clients: verified against the system's trust store, or a given CA file.

test-case-name: tests.unit.test_client_tls

    tls = client_tls("files.example.org")                    # the system's CAs
    tls = client_tls("127.0.0.1", cafile=Path("var/tls/ca.pem"))  # your own CA
    client = await Client.connect(reactor, endpoint, tls=tls)

The server's certificate must chain to a trusted CA and name the host (a DNS
name, or an IP address) the client connected to; otherwise the connection
fails with L{TLSError}. There is no way to skip the check.

Public API: L{client_tls}, L{TLSError}, L{TLSConfigError}.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography import x509
from OpenSSL import SSL, crypto
from service_identity import VerificationError
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from twisted.internet.ssl import (
    Certificate,
    optionsForClientTLS,
    platformTrust,
    trustRootFromCertificates,
)
from twisted.python.failure import Failure

from ftpkit.tls import openssl_reasons


class TLSConfigError(Exception):
    """The CA file cannot be used."""


class TLSError(Exception):
    """
    The TLS handshake failed.

    @ivar reason: C{"untrusted"} (the certificate does not chain to a trusted CA),
        C{"hostname"} (it does not name the host), or C{"handshake"} (anything
        else, such as a server that does not speak TLS on that port).
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def client_tls(hostname: str, cafile: Path | None = None) -> IOpenSSLClientConnectionCreator:
    """TLS options checking the server's certificate for C{hostname}."""
    trust = platformTrust() if cafile is None else trustRootFromCertificates(_load(cafile))
    return optionsForClientTLS(hostname, trustRoot=trust)


def _load(cafile: Path) -> list[Certificate]:
    try:
        data = cafile.read_bytes()
    except OSError as e:
        raise TLSConfigError(f"cannot read CA file {cafile}: {e.strerror}") from None
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise TLSConfigError(f"{cafile}: not a PEM certificate file") from None
    return [Certificate(crypto.X509.from_cryptography(c)) for c in certificates]


def tls_error(reason: Failure | None) -> TLSError | None:
    """The TLS failure a lost connection's C{reason} carries, if it is one."""
    if reason is None:
        return None
    error: Any = reason.value
    if isinstance(error, VerificationError):
        return TLSError("hostname", f"the server's certificate is not valid for this host "
                                    f"({_mismatch(error)})")
    if isinstance(error, SSL.Error):
        why = openssl_reasons(error)
        if "certificate verify failed" in why:
            return TLSError("untrusted", f"the server's certificate is not trusted ({why})")
        return TLSError("handshake", f"the TLS handshake failed ({why or 'no reason given'})")
    return None


def _mismatch(error: VerificationError) -> str:
    names = []
    for mismatch in error.errors:
        wanted = getattr(mismatch, "mismatched_id", None)
        name = getattr(wanted, "hostname", None) or getattr(wanted, "ip", None) or wanted
        names.append(name.decode() if isinstance(name, bytes) else str(name))
    return f"it does not name {', '.join(names)}" if names else str(error)
