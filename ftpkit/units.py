"""
Byte sizes for people: parsing "500K", "10M", "2G", "unlimited"; and printing them.

test-case-name: tests.unit.test_units

K, M, G and T are powers of 1024 (KiB, MiB, GiB, TiB); "KiB" style suffixes and a
trailing "B" are accepted too.

Public API: L{parse_size}, L{format_size}.
"""

from __future__ import annotations

import re

_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(?:([KMGT])(?:I?B)?|B)?\s*\Z", re.IGNORECASE | re.ASCII)


def parse_size(text: str, allow_unlimited: bool = True) -> int | None:
    """Bytes as an int, or None for "unlimited". Raises ValueError with a reason."""
    if allow_unlimited and text.strip().lower() in ("unlimited", "none"):
        return None
    m = _SIZE.match(text)
    if m is None:
        raise ValueError(
            f"invalid size {text!r}: use bytes or a number with K, M, G or T "
            "(powers of 1024)" + (", or 'unlimited'" if allow_unlimited else "")
        )
    unit = (m.group(2) or "").upper()
    value = float(m.group(1)) * _UNITS[unit]
    if not unit and "." in m.group(1):
        raise ValueError(f"invalid size {text!r}: a plain byte count must be whole")
    return int(value)


def format_size(n: int | None) -> str:
    if n is None:
        return "unlimited"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")
