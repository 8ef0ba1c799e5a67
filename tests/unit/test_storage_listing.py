"""The listing cache: pages in order, stale-proof, within its memory bound."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ftpkit.storage.listing import ListingCache


@pytest.fixture
def big(tmp_path: Path) -> Iterator[int]:
    for i in range(50):
        (tmp_path / f"n{i:03}").touch()
    old = 1_000_000_000  # long settled
    os.utime(tmp_path, (old, old))
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    yield fd
    os.close(fd)


def all_pages(cache: ListingCache, fd: int, limit: int) -> list[str]:
    names: list[str] = []
    after = None
    while True:
        page, more = cache.page(fd, after, limit)
        names += page
        if not more:
            return names
        after = page[-1]


def test_pages_cover_every_name_once_in_order(big: int) -> None:
    cache = ListingCache()
    assert all_pages(cache, big, 7) == [f"n{i:03}" for i in range(50)]
    assert len(cache._lists) == 1  # kept for the later pages


def test_a_change_to_the_directory_is_seen(big: int, tmp_path: Path) -> None:
    cache = ListingCache()
    all_pages(cache, big, 10)
    (tmp_path / "n999").touch()
    (tmp_path / "n000").unlink()
    names = all_pages(cache, big, 10)
    assert names[0] == "n001" and names[-1] == "n999" and len(names) == 50


def test_a_directory_changed_just_now_is_not_cached(tmp_path: Path) -> None:
    for i in range(20):
        (tmp_path / f"f{i}").touch()
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        cache = ListingCache()
        assert len(all_pages(cache, fd, 5)) == 20
        assert len(cache._lists) == 0
    finally:
        os.close(fd)


def test_memory_bound_holds(big: int) -> None:
    cache = ListingCache(max_names=10)  # smaller than the directory
    assert all_pages(cache, big, 7) == [f"n{i:03}" for i in range(50)]
    assert cache._total == 0 and len(cache._lists) == 0


def test_small_directory_is_one_page_without_caching(big: int) -> None:
    cache = ListingCache()
    page, more = cache.page(big, None, 100)
    assert len(page) == 50 and not more
    assert len(cache._lists) == 0
