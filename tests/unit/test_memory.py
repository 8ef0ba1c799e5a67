"""malloc tuning is asked for on glibc, and left to the environment if it sets it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ftpkit import memory

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")


def in_fresh_process(function: str, **env: str) -> str:
    """What C{ftpkit.memory.<function>()} returns in a new interpreter with C{env}."""
    code = f"from ftpkit.memory import {function} as f; print(f())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", **env}, check=True)
    return done.stdout.strip()


@linux_only
def test_the_server_limits_arenas_unless_the_environment_sets_it() -> None:
    assert in_fresh_process("limit_malloc_arenas") == "True"
    assert in_fresh_process("limit_malloc_arenas", MALLOC_ARENA_MAX="4") == "False"


@linux_only
def test_the_client_keeps_freed_heap_unless_the_environment_says() -> None:
    assert in_fresh_process("keep_freed_heap") == "True"
    assert in_fresh_process("keep_freed_heap", MALLOC_TRIM_THRESHOLD_="0") == "False"


@linux_only
def test_a_password_worker_keeps_large_blocks_unless_the_environment_says() -> None:
    assert in_fresh_process("keep_large_blocks").startswith("<function")  # the release
    assert in_fresh_process("keep_large_blocks", MALLOC_MMAP_MAX_="1") == "None"


def test_other_platforms_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory.sys, "platform", "darwin")
    assert memory.limit_malloc_arenas() is False
    assert memory.keep_freed_heap() is False
    assert memory.keep_large_blocks() is None


def test_the_server_freezes_what_it_loaded_and_collects_first() -> None:
    code = ("import gc, weakref; from ftpkit.memory import freeze_startup_objects as f\n"
            "class Cycle: pass\n"
            "c = Cycle(); c.me = c; gone = weakref.ref(c); del c\n"  # garbage: not frozen
            "f(); print(gc.get_freeze_count() > 0, gone() is None)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == ["True", "True"]
