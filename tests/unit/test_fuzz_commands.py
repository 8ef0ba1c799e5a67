"""
Fuzzing the argument validation of every registered command, from the registry's
own declarations: arguments missing, of the wrong type, of the right type with
any value, unknown ones added; before and after a login.

Every request gets exactly one final answer with its id (a transfer may send a
continue and data first), never internal_error, never internals in a message;
and the server goes on serving other sessions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ftpkit.commands.registry import CommandRegistry
from ftpkit.server.factory import ServerFactory
from tests.unit.fuzzkit import Probe, frame, fuzz_factory, json_values, still_serves

REGISTRY = CommandRegistry.from_plugins()
COMMANDS = sorted(command.name for command in REGISTRY)
WRONG = json_values  # often of the wrong type; sometimes, by chance, of the right one
RIGHT = {
    "str": st.one_of(st.text(max_size=40), st.sampled_from(
        ["", "/", ".", "..", "/.ftpkit", "a/b", "x" * 300, "a\x00b", "é/ü", "sha256", "md5",
         "f.txt", "/f.txt", "d", "d/", "d/g.txt", "new.bin"])),
    "int": st.one_of(st.integers(-2, 20), st.integers(-(2**63), 2**63)),
    "bool": st.booleans(),
    "any": json_values,
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, ServerFactory]]:
    tmp = tmp_path_factory.mktemp("fuzz-commands")
    factory = fuzz_factory(tmp)
    probe = Probe(tmp, factory)
    probe.login()  # makes the home
    probe.close()
    (tmp / "homes" / "alice" / "f.txt").write_bytes(b"0123456789" * 100)
    (tmp / "homes" / "alice" / "d").mkdir()
    yield tmp, factory


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    name = draw(st.sampled_from(COMMANDS))
    command = REGISTRY.get(name)
    assert command is not None
    args: dict[str, Any] = {}
    for arg in command.arguments:
        ways = (["right"] * 4 + ["omit", "wrong"] if arg.required
                else ["omit"] * 3 + ["right"] * 2 + ["wrong"])
        how = draw(st.sampled_from(ways))
        if how == "right":
            args[arg.name] = draw(RIGHT[arg.type])
        elif how == "wrong":
            args[arg.name] = draw(WRONG)
    if draw(st.integers(0, 5)) == 0:
        args[draw(st.text(min_size=1, max_size=10))] = draw(WRONG)
    return name, args


def finish_transfer(probe: Probe, rid: int) -> None:
    """A put that got its continue is owed an end; then its answer comes."""
    last = probe.messages()[-1]
    if (last["type"], last["id"]) == ("continue", rid) and "prefix_checksum" in last["result"]:
        probe.feed(frame(0x43, json.dumps({"type": "end", "id": rid, "abort": True}).encode()))


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(calls=st.lists(requests(), min_size=1, max_size=4), login=st.booleans())
def test_every_command_with_any_arguments(server: tuple[Path, ServerFactory],
                                          calls: list[tuple[str, dict[str, Any]]],
                                          login: bool) -> None:
    tmp, factory = server
    probe = Probe(tmp, factory)
    try:
        if login:
            probe.login()
        for rid, (name, args) in enumerate(calls, start=100):
            if probe.wire.transport.disconnecting:
                break  # quit, or a fatal error
            request = {"type": "request", "id": rid, "command": name, "args": args}
            probe.feed(frame(0x43, json.dumps(request).encode()))
            finish_transfer(probe, rid)
            answers = [m for m in probe.messages()
                       if m.get("id") == rid and m["type"] in ("ok", "error")]
            if probe.fatal is None:
                assert len(answers) == 1, (name, args, probe.messages()[-3:])
                assert answers[0].get("code") != "internal_error", (name, args, answers)
    finally:
        probe.close()
    still_serves(tmp, factory)


def test_the_fuzzing_covers_every_command() -> None:
    assert {"login", "put", "get", "ls", "mv", "rm", "mkdir", "quota"} <= set(COMMANDS)
    assert all(a.type in RIGHT for c in REGISTRY for a in c.arguments)
