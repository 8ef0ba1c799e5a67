"""
A password-check worker: C{python -m ftpkit.auth.hashworker NICE}.

test-case-name: tests.unit.test_verifier

Lowers its own priority by NICE, then answers one line per line read on stdin:
the request is the JSON array C{[stored_hash, password]}, the answer C{1} if the
password matches and C{0} if not. It exits at the end of its input, so it never
outlives the server that started it. See L{ftpkit.auth.verifier}.
"""

from __future__ import annotations

import json
import os
import sys

from ftpkit.auth.passwords import PasswordHasher


def main(argv: list[str]) -> None:
    try:
        os.nice(int(argv[1]) if len(argv) > 1 else 0)
    except (AttributeError, OSError):  # no os.nice (Windows), or not allowed
        pass
    hasher = PasswordHasher()
    out = sys.stdout
    for line in sys.stdin.buffer:
        stored_hash, password = json.loads(line)
        out.write("1\n" if hasher.verify(stored_hash, password) else "0\n")
        out.flush()


if __name__ == "__main__":
    main(sys.argv)
