"""Byte sizes: parse_size and format_size."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ftpkit.units import format_size, parse_size

K, M, G, T = 1024, 1024**2, 1024**3, 1024**4


@pytest.mark.parametrize(("text", "size"), [
    ("0", 0),
    ("123", 123),
    ("500K", 500 * K),
    ("500k", 500 * K),
    ("10M", 10 * M),
    ("2G", 2 * G),
    ("1T", T),
    ("1.5G", 1536 * M),
    ("0.5K", 512),
    ("10MiB", 10 * M),
    ("10mib", 10 * M),
    ("10mb", 10 * M),
    ("10MB", 10 * M),
    ("10KiB", 10 * K),
    ("7B", 7),
    (" 10 M ", 10 * M),
])
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size
    assert type(parse_size(text)) is int


@pytest.mark.parametrize("text", ["unlimited", "UNLIMITED", " Unlimited ", "none"])
def test_unlimited_is_none(text: str) -> None:
    assert parse_size(text) is None


@pytest.mark.parametrize("text", ["", " ", "K", "ten", "-1", "+1", "1e3", "1,5G", "10X", "10KK",
                                  "1.G", ".5G", "10 M B", "unlimitedK", "10M garbage"])
def test_bad_sizes_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_size(text)
    message = str(caught.value)
    assert repr(text) in message
    assert "K, M, G or T" in message and "'unlimited'" in message


def test_unlimited_can_be_refused() -> None:
    for text in ("unlimited", "none"):
        with pytest.raises(ValueError) as caught:
            parse_size(text, allow_unlimited=False)
        assert str(caught.value).endswith("(powers of 1024)")  # no "or 'unlimited'" hint
    assert parse_size("1K", allow_unlimited=False) == K


@pytest.mark.parametrize("text", ["1.5", "1.5B", "0.1"])
def test_fractional_bytes_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="must be whole"):
        parse_size(text)


@pytest.mark.parametrize(("size", "text"), [
    (None, "unlimited"),
    (0, "0 B"),
    (1023, "1023 B"),
    (1024, "1.0 KiB"),
    (1536, "1.5 KiB"),
    (10 * M, "10.0 MiB"),
    (2 * G, "2.0 GiB"),
    (3 * T, "3.0 TiB"),
    (2048 * T, "2048.0 TiB"),
])
def test_format_size(size: int | None, text: str) -> None:
    assert format_size(size) == text


@given(st.integers(min_value=0, max_value=1023), st.sampled_from(["", "K", "M", "G", "T"]))
def test_whole_sizes_round_trip_through_parse(n: int, unit: str) -> None:
    size = parse_size(f"{n}{unit}")
    assert size == n * {"": 1, "K": K, "M": M, "G": G, "T": T}[unit]
    if n == 0 or unit == "":
        assert format_size(size) == f"{n} B"
    else:
        assert format_size(size) == f"{n}.0 {unit}iB"
