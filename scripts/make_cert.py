"""
Make a throw-away certificate authority and a server certificate signed by it, for
trying TLS out (scripts/make-cert runs this with the venv's Python):

    .venv/bin/python scripts/make_cert.py [--dir var/tls] [--host NAME]...

Writes DIR/ca.pem (give it to clients: ftpkit --tls --cafile DIR/ca.pem), DIR/ca.key,
DIR/server.pem and DIR/server.key (for the server:
--listen ssl:8990:interface=127.0.0.1:privateKey=DIR/server.key:certKey=DIR/server.pem).
The server certificate is valid for localhost, 127.0.0.1 and ::1 (unless
--no-loopback), and for each --host.
Keys are ECDSA P-256, written mode 0600. Not for production: use a real CA there.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DAYS = 365
LOOPBACK = ["localhost", "127.0.0.1", "::1"]


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ftpkit test"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write(path: Path, data: bytes, private: bool = False) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _alt_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def make(directory: Path, hosts: list[str], loopback: bool = True) -> None:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("ftpkit test CA")
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=DAYS))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, key_cert_sign=True, crl_sign=True,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    names = list(dict.fromkeys([*(LOOPBACK if loopback else []), *hosts]))
    if not names:
        raise SystemExit("make_cert.py: no names: give --host, or drop --no-loopback")
    cert = (x509.CertificateBuilder().subject_name(_name(names[-1] if hosts else "localhost"))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=DAYS))
            .add_extension(x509.SubjectAlternativeName([_alt_name(n) for n in names]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    _write(directory / "ca.key", _key_pem(ca_key), private=True)
    _write(directory / "ca.pem", ca.public_bytes(serialization.Encoding.PEM))
    _write(directory / "server.key", _key_pem(key), private=True)
    _write(directory / "server.pem", cert.public_bytes(serialization.Encoding.PEM))
    print(f"wrote {directory}/ca.pem, ca.key, server.pem, server.key "
          f"(valid {DAYS} days for {', '.join(names)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1] if __doc__ else None)
    parser.add_argument("--dir", default="var/tls", type=Path, help="where to write [var/tls]")
    parser.add_argument("--host", action="append", default=[],
                        help="another name or address the server certificate is valid for")
    parser.add_argument("--no-loopback", dest="loopback", action="store_false",
                        help="not valid for localhost, 127.0.0.1 and ::1 (only --host)")
    opts = parser.parse_args()
    make(opts.dir, opts.host, opts.loopback)


if __name__ == "__main__":
    main()
