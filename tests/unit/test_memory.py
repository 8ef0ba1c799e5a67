"""malloc tuning is asked for on glibc, and left to the environment if it sets it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ftpkit import memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_limit_is_set_in_a_fresh_process_unless_the_environment_sets_it() -> None:
    code = "from ftpkit.memory import limit_malloc_arenas as f; print(f())"
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={"PATH": "/usr/bin:/bin"}, check=True)
    assert fresh.stdout.strip() == "True"
    told = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "MALLOC_ARENA_MAX": "4"}, check=True)
    assert told.stdout.strip() == "False"


def test_other_platforms_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory.sys, "platform", "darwin")
    assert memory.limit_malloc_arenas() is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_the_client_keeps_freed_heap_unless_the_environment_says() -> None:
    code = "from ftpkit.memory import keep_freed_heap as f; print(f())"
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={"PATH": "/usr/bin:/bin"}, check=True)
    assert fresh.stdout.strip() == "True"
    told = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "MALLOC_TRIM_THRESHOLD_": "0"},
                          check=True)
    assert told.stdout.strip() == "False"
