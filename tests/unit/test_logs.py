"""The server log and audit observers, log files that reopen, and where the log goes."""

from __future__ import annotations

import io
import json
import signal
from pathlib import Path
from typing import Any

import pytest
from twisted.application.service import Application
from twisted.logger import ILogObserver, Logger, LogPublisher
from twisted.python.failure import Failure

from ftpkit.server.audit import AUDIT_FIELDS, AUDIT_NAMESPACE
from ftpkit.server.config import STDOUT, LoggingConfig
from ftpkit.server.logs import (
    LogFile,
    Logs,
    LogService,
    ServerService,
    audit_line,
    json_line,
    log_destination,
    server_log_observer,
)


def events(emit: Any) -> list[dict[str, Any]]:
    """The events C{emit(logger)} logs."""
    caught: list[dict[str, Any]] = []
    emit(Logger(namespace="test.ns", observer=caught.append))
    return caught


def audit_event(**fields: Any) -> dict[str, Any]:
    values = {"user": "alice", "peer": "127.0.0.1:5000", "operation": "put", "path": "/a",
              "dst": None, "bytes": 3, "result": "ok", "duration_ms": 1.5, **fields}
    (event,) = events(lambda log: log.info("audit {operation}", **values))
    event["log_namespace"] = AUDIT_NAMESPACE
    return event


class Sink:
    def __init__(self) -> None:
        self.text = ""
        self.reopened = 0

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass

    def reopen(self) -> None:
        self.reopened += 1


def test_json_line_has_the_message_and_the_event_fields() -> None:
    (event,) = events(lambda log: log.warn("login failed user={user}", user="bob", n=2))
    record = json.loads(json_line(event) or "")
    assert record["message"] == "login failed user=bob"
    assert record["level"] == "warn" and record["system"] == "test.ns"
    assert record["user"] == "bob" and record["n"] == 2
    assert record["time"].endswith("+00:00")
    assert not any(key.startswith("log_") for key in record)


def test_json_line_carries_a_traceback_and_survives_odd_values() -> None:
    try:
        raise ZeroDivisionError("no")
    except ZeroDivisionError:
        failure = Failure()
    (event,) = events(lambda log: log.failure("boom {thing}", failure, thing=object()))
    record = json.loads(json_line(event) or "")
    assert "ZeroDivisionError" in record["traceback"]
    assert record["thing"].startswith("<object object")


def test_json_line_of_a_legacy_event_uses_its_system() -> None:
    (event,) = events(lambda log: log.info("ServerFactory starting on 8021"))
    event.update(log_namespace="log_legacy", log_system="ftpkit", message=("x",), system="ftpkit",
                 isError=0, time=event["log_time"])
    record = json.loads(json_line(event) or "")
    assert (record["system"], record["message"]) == ("ftpkit", "ServerFactory starting on 8021")
    assert set(record) == {"time", "level", "system", "message"}


def test_audit_line_has_exactly_the_audit_fields() -> None:
    record = json.loads(audit_line(audit_event()) or "")
    assert tuple(record) == AUDIT_FIELDS
    assert record["operation"] == "put" and record["bytes"] == 3


def test_audit_line_ignores_other_events() -> None:
    (event,) = events(lambda log: log.info("hello"))
    assert audit_line(event) is None


def test_server_log_level_and_audit_filtering(tmp_path: Path) -> None:
    sink = Sink()
    observer = server_log_observer(LoggingConfig(format="json", level="warn",
                                                 audit=tmp_path / "audit"), sink)
    for event in events(lambda log: (log.info("quiet"), log.error("loud"))):
        observer(event)
    observer(audit_event())  # it has a file of its own
    lines = [json.loads(line) for line in sink.text.splitlines()]
    assert [line["message"] for line in lines] == ["loud"]


def test_audit_events_stay_in_the_server_log_without_an_audit_file() -> None:
    out = io.StringIO()
    logs = Logs.open(LoggingConfig(), STDOUT, out)
    assert logs.audit is None and logs.server is not None
    logs.server(audit_event())
    assert "audit put" in out.getvalue()


def test_logs_open_the_audit_file(tmp_path: Path) -> None:
    logs = Logs.open(LoggingConfig(audit=tmp_path / "audit.jsonl"), None, io.StringIO())
    assert logs.server is None and logs.audit is not None
    logs.audit(audit_event())
    (line,) = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert json.loads(line)["user"] == "alice"


def test_log_file_reopens_after_it_was_moved(tmp_path: Path) -> None:
    path = tmp_path / "log" / "ftpkit.log"
    log = LogFile(path)
    log.write("one\n")
    log.flush()
    path.rename(tmp_path / "old.log")
    log.write("two\n")
    log.reopen()
    log.write("three\n")
    log.flush()
    assert (tmp_path / "old.log").read_text() == "one\ntwo\n"
    assert path.read_text() == "three\n"
    log.close()


def test_a_failed_reopen_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "ftpkit.log"
    log = LogFile(path)
    path.unlink()
    path.mkdir()  # cannot be opened as a file
    with pytest.raises(OSError):
        log.reopen()
    log.write("still here\n")
    log.close()


@pytest.mark.parametrize(("config", "twistd", "expected"), [
    (LoggingConfig(file=Path("/x/f.log")), {"logfile": "t.log"}, Path("/x/f.log")),
    (LoggingConfig(), None, None),
    (LoggingConfig(), {"logfile": "-", "nodaemon": True}, STDOUT),
    (LoggingConfig(), {"logfile": None, "nodaemon": True}, STDOUT),
    (LoggingConfig(), {"logfile": "/var/log/t.log"}, Path("/var/log/t.log")),
    (LoggingConfig(), {"logfile": None, "nodaemon": False}, Path("twistd.log").absolute()),
    (LoggingConfig(), {"syslog": True}, None),
    (LoggingConfig(), {"logger": "my.observer"}, None),
    (LoggingConfig(file=Path("/x/f.log")), {"syslog": True}, None),
    (LoggingConfig(file=Path("/x/f.log")), None, Path("/x/f.log")),
])
def test_log_destination(config: LoggingConfig, twistd: dict[str, Any] | None,
                         expected: Path | None) -> None:
    assert log_destination(config, twistd) == expected


class FakeReactor:
    def callFromThread(self, f: Any, *args: Any) -> None:
        f(*args)


def test_log_service_reopens_on_sighup_and_restores_the_handler(tmp_path: Path) -> None:
    installed: dict[int, Any] = {signal.SIGHUP: "previous"}

    def install(signum: int, handler: Any) -> Any:
        previous, installed[signum] = installed[signum], handler
        return previous

    sink, publisher = Sink(), LogPublisher()
    audit: list[dict[str, Any]] = []
    service = LogService(Logs(None, audit.append, [sink]), FakeReactor(), publisher, install)
    service.startService()
    publisher(audit_event())
    installed[signal.SIGHUP](signal.SIGHUP, None)
    assert sink.reopened == 1
    service.stopService()
    assert installed[signal.SIGHUP] == "previous"
    publisher(audit_event())
    assert len(audit) == 1  # the audit observer is gone once stopped


def test_server_service_hands_its_observer_to_the_application() -> None:
    def observer(event: dict[str, Any]) -> None:
        pass

    application = Application("ftpkit")
    ServerService(observer).setServiceParent(application)
    assert application.getComponent(ILogObserver) is observer
