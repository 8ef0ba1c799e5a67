"""docs/plugins.md's tutorial command, run as written: the guide must not rot."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

import pytest

from ftpkit.commands import ICommand
from ftpkit.commands.registry import CommandRegistry
from ftpkit.plugins import builtins
from tests.serverkit import Wire

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def tutorial_module() -> ModuleType:
    text = GUIDE.read_text(encoding="utf-8")
    found = re.search(r"<!-- tutorial:.*?-->\n```python\n(.*?)```", text, re.S)
    assert found, "the tutorial's code block is marked with <!-- tutorial: ... -->"
    module = ModuleType("ftpkit_wc_commands")
    exec(compile(found.group(1), f"{GUIDE}:tutorial", "exec"), module.__dict__)
    return module


@pytest.fixture
def wire(tmp_path: Path) -> Wire:
    wc = tutorial_module().wc
    assert ICommand.providedBy(wc)
    w = Wire(tmp_path, registry=CommandRegistry.of([builtins.login, wc]))
    w.messages()
    w.login()
    (tmp_path / "homes" / "alice" / "notes.txt").write_bytes(b"one two\nthree\n")
    return w


def test_the_tutorial_command_works_as_the_guide_says(wire: Wire) -> None:
    assert wire.ok("wc", path="notes.txt") == {"path": "/notes.txt", "bytes": 14, "lines": 2,
                                               "words": 3}
    reply = wire.ask("wc", path="notes.txt", max_size=3)
    assert (reply["code"], reply["message"]) == ("too_large",
                                                 "the file has 14 bytes; the limit is 3")
    assert wire.error("wc", path="notes.txt", max_size=0) == "bad_request"
    assert wire.error("wc", path="nope") == "not_found"
