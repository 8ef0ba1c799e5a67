"""
The server log and the audit log: where they go, their format, reopening on SIGHUP.

test-case-name: tests.unit.test_logs

Everything is logged through twisted.logger. The server log is an observer that
twistd installs in place of its own (see L{ServerService}); audit records are
log events in the L{AUDIT_NAMESPACE} namespace, which the audit observer writes
as JSON lines and the server log leaves out when they have a file of their own.

Public API: none (the [logging] section of conf/ftpkit.toml, and the audit
record's fields, documented in docs/operations.md, are the interface).
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, Protocol, TextIO

from attrs import define, field
from twisted.application.service import MultiService, Service
from twisted.logger import (
    FileLogObserver,
    FilteringLogObserver,
    ILogObserver,
    LogEvent,
    Logger,
    LogLevel,
    LogLevelFilterPredicate,
    LogPublisher,
    PredicateResult,
    formatEvent,
    globalLogPublisher,
    textFileLogObserver,
)
from twisted.python.components import Componentized

from ftpkit.server.audit import AUDIT_FIELDS, AUDIT_NAMESPACE
from ftpkit.server.config import STDOUT, LoggingConfig

# Keys of legacy (twisted.python.log) events that are not the event's own fields.
_LEGACY_KEYS = {"message", "time", "system", "isError", "format", "why", "failure"}


class Reopenable(Protocol):
    def write(self, text: str) -> object: ...

    def flush(self) -> None: ...

    def reopen(self) -> None: ...


class LogFile:
    """A text file opened for appending; reopen() opens the path afresh (after logrotate)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = self._open()

    def _open(self) -> TextIO:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return open(self.path, "a", encoding="utf-8")  # kept open until reopen() or close()

    def write(self, text: str) -> None:
        self._file.write(text)

    def flush(self) -> None:
        self._file.flush()

    def reopen(self) -> None:
        """Open the path again; if that fails (OSError), keep writing to the old file."""
        new = self._open()
        old, self._file = self._file, new
        old.close()

    def close(self) -> None:
        self._file.close()


@define
class StreamFile:
    """Standard output, say: nothing to reopen."""

    stream: TextIO

    def write(self, text: str) -> None:
        self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def reopen(self) -> None:
        pass


def log_destination(config: LoggingConfig, twistd: Mapping[str, Any] | None) -> Path | None:
    """
    Where the server log goes: C{[logging] file}, else where twistd would have put
    it given its options C{twistd} (C{--logfile}; standard output under C{-n}, else
    twistd.log). None: leave the log to twistd (when given --syslog or --logger,
    which win over [logging]; or when not running under twistd and no file is set).
    """
    if twistd is not None and (twistd.get("logger") or twistd.get("syslog")):
        return None
    if config.file is not None:
        return config.file
    if twistd is None:
        return None
    logfile = twistd.get("logfile")
    if logfile == "-" or (not logfile and twistd.get("nodaemon")):
        return STDOUT
    return Path(logfile or "twistd.log").absolute()


def open_log(path: Path, stdout: TextIO) -> LogFile | StreamFile:
    return StreamFile(stdout) if path == STDOUT else LogFile(path)


def _iso_time(event: LogEvent) -> str:
    return datetime.fromtimestamp(event["log_time"], UTC).isoformat(timespec="milliseconds")


def json_line(event: LogEvent) -> str | None:
    """One server log event as a JSON line: time, level, system, message, its own fields."""
    record: dict[str, Any] = {
        "time": _iso_time(event),
        "level": getattr(event.get("log_level"), "name", "info"),
        "system": _system(event),
        "message": formatEvent(event),
    }
    for key, value in event.items():
        if not key.startswith("log_") and key not in _LEGACY_KEYS and key not in record:
            record[key] = value
    failure = event.get("log_failure")
    if failure is not None:
        record["traceback"] = failure.getTraceback()
    return json.dumps(record, default=repr, ensure_ascii=False) + "\n"


def _system(event: LogEvent) -> str:
    namespace = event.get("log_namespace")
    if namespace in (None, "log_legacy"):  # twisted.python.log.msg: its system, if any
        return str(event.get("log_system") or "-")
    return str(namespace)


def audit_line(event: LogEvent) -> str | None:
    """An audit event as one JSON object of L{AUDIT_FIELDS}; None for any other event."""
    if event.get("log_namespace") != AUDIT_NAMESPACE:
        return None
    record: dict[str, Any] = {"time": _iso_time(event)}
    record.update({key: event.get(key) for key in AUDIT_FIELDS[1:]})
    return json.dumps(record, ensure_ascii=False) + "\n"


def _not_audit(event: LogEvent) -> Any:
    return (PredicateResult.no if event.get("log_namespace") == AUDIT_NAMESPACE
            else PredicateResult.maybe)


def server_log_observer(config: LoggingConfig, out: Reopenable) -> ILogObserver:
    """The server log: C{config}'s format and level, audit events left out if they have a file."""
    formatted = (FileLogObserver(out, json_line) if config.format == "json"  # type: ignore[arg-type]
                 else textFileLogObserver(out))  # type: ignore[arg-type]
    predicates: list[Any] = [
        LogLevelFilterPredicate(defaultLogLevel=LogLevel.levelWithName(config.level))]
    if config.audit is not None:
        predicates.append(_not_audit)
    return FilteringLogObserver(formatted, predicates)


@define
class Logs:
    """
    The observers a [logging] section asks for and the files behind them.

    @ivar server: the server log's observer, or None to leave the log to twistd.
    @ivar audit: the audit file's observer, or None (audit events go to the server log).
    """

    server: ILogObserver | None = None
    audit: ILogObserver | None = None
    files: list[Reopenable] = field(factory=list)

    @classmethod
    def open(cls, config: LoggingConfig, destination: Path | None, stdout: TextIO) -> Logs:
        """Open the files; OSError if one cannot be."""
        logs = cls()
        if destination is not None:
            out = open_log(destination, stdout)
            logs.files.append(out)
            logs.server = server_log_observer(config, out)
        if config.audit is not None:
            audit = open_log(config.audit, stdout)
            logs.files.append(audit)
            logs.audit = FileLogObserver(audit, audit_line)  # type: ignore[arg-type]
        return logs


class LogService(Service):
    """
    While running: sends audit events to their file, and reopens the log files on
    SIGHUP (so that logrotate can move them away).
    """

    log = Logger()

    def __init__(self, logs: Logs, reactor: Any, publisher: LogPublisher = globalLogPublisher,
                 install_signal: Callable[..., Any] = signal.signal) -> None:
        self.logs = logs
        self.reactor = reactor
        self._publisher = publisher
        self._signal = install_signal
        self._previous: Any = None

    def startService(self) -> None:
        super().startService()
        if self.logs.audit is not None:
            self._publisher.addObserver(self.logs.audit)
        self._previous = self._signal(signal.SIGHUP, self._hangup)

    def _hangup(self, signum: int, frame: FrameType | None) -> None:
        self.reactor.callFromThread(self.reopen)  # safe from a signal handler

    def reopen(self) -> None:
        for out in self.logs.files:
            try:
                out.reopen()
            except OSError as e:
                self.log.error("cannot reopen log file {path}: {error}",
                               path=getattr(out, "path", "-"), error=e.strerror)
        self.log.info("log files reopened")

    def stopService(self) -> None:
        super().stopService()
        self._signal(signal.SIGHUP, self._previous if self._previous is not None
                     else signal.SIG_DFL)
        if self.logs.audit is not None:
            self._publisher.removeObserver(self.logs.audit)


class ServerService(MultiService):
    """
    The whole server. When twistd makes it part of its application, it hands over
    the server log observer (as the application's ILogObserver component, which
    twistd uses instead of its --logfile).
    """

    def __init__(self, log_observer: ILogObserver | None = None) -> None:
        super().__init__()
        self.log_observer = log_observer

    def setServiceParent(self, parent: Any) -> None:
        if self.log_observer is not None and isinstance(parent, Componentized):
            parent.setComponent(ILogObserver, self.log_observer)
        super().setServiceParent(parent)
