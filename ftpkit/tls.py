"""
What the server and the client share about TLS.

test-case-name: tests.unit.test_client_tls

Public API: none (internal).
"""

from __future__ import annotations


def openssl_reasons(error: Exception) -> str:
    """An OpenSSL error's [(library, function, reason), ...] as 'reason; reason'."""
    parts = error.args[0] if error.args and isinstance(error.args[0], list) else []
    return "; ".join(str(p[-1]) for p in parts if p) or str(error)
