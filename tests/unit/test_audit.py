"""Audit records: one per file operation, with who, what, how much and the outcome."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from twisted.logger import Logger

from ftpkit.server.audit import AUDIT_NAMESPACE, Audit
from tests.serverkit import Wire
from tests.unit.test_transfers import get, home, put

PEER = "192.0.2.1:40000"  # the test Wire's peer


class Audited(Wire):
    """A logged-in session whose audit records are kept in C{records}."""

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        self.events: list[dict[str, Any]] = []
        self.factory.audit = Audit(Logger(namespace=AUDIT_NAMESPACE,
                                          observer=self.events.append))
        self.messages()

    @property
    def records(self) -> list[dict[str, Any]]:
        keys = ("user", "peer", "operation", "path", "dst", "bytes", "result")
        return [{k: e[k] for k in keys} for e in self.events]


@pytest.fixture
def wire(tmp_path: Path) -> Audited:
    return Audited(tmp_path)


def test_a_login_is_audited_with_the_name_tried(wire: Audited) -> None:
    wire.request("login", user="mallory", password="guess")
    wire.clock.advance(5)  # the failure delay
    wire.messages()
    wire.login()
    assert [(r["user"], r["operation"], r["result"]) for r in wire.records] == [
        ("mallory", "login", "auth_failed"), ("alice", "login", "ok")]


def test_put_and_get_record_the_bytes_moved(wire: Audited, tmp_path: Path) -> None:
    wire.login()
    data = os.urandom(5000)
    assert put(wire, "/up.bin", data)["type"] == "ok"
    (home(tmp_path) / "down.bin").write_bytes(data[:3000])
    get(wire, "down.bin")
    _, upload, download = wire.records
    assert upload == {"user": "alice", "peer": PEER, "operation": "put", "path": "/up.bin",
                      "dst": None, "bytes": 5000, "result": "ok"}
    assert download["operation"] == "get" and download["path"] == "/down.bin"
    assert download["bytes"] == 3000
    assert isinstance(wire.events[-1]["duration_ms"], float)


def test_errors_record_the_code_and_the_path_asked_for(wire: Audited) -> None:
    wire.login()
    assert wire.error("rm", path="nope") == "not_found"
    assert wire.error("mv", src="a", dst="b") == "not_found"
    assert wire.records[1:] == [
        {"user": "alice", "peer": PEER, "operation": "rm", "path": "nope", "dst": None,
         "bytes": 0, "result": "not_found"},
        {"user": "alice", "peer": PEER, "operation": "mv", "path": "a", "dst": "b",
         "bytes": 0, "result": "not_found"}]


def test_a_rename_records_both_resolved_paths(wire: Audited) -> None:
    wire.login()
    wire.ok("mkdir", path="d")
    wire.ok("mv", src="d", dst="e")
    assert [(r["operation"], r["path"], r["dst"]) for r in wire.records[1:]] == [
        ("mkdir", "/d", None), ("mv", "/d", "/e")]


def test_commands_that_touch_no_file_are_not_audited(wire: Audited) -> None:
    wire.login()
    for command in ("pwd", "quota", "commands", "logout"):
        wire.ok(command)
    assert [r["operation"] for r in wire.records] == ["login"]
