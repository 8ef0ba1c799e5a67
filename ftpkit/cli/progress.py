"""
Progress for the CLI: a rich bar on a terminal, else nothing; and the summary line.

test-case-name: tests.unit.test_cli

Public API: none (internal).
"""

from __future__ import annotations

import time
from typing import Any, TextIO

from ftpkit.units import format_size


class ProgressBar:
    """A progress callback (done, total) that draws bytes, percent, rate and ETA."""

    def __init__(self, label: str, stream: TextIO, enabled: bool) -> None:
        self._progress: Any = None
        self._task: Any = None
        if enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TaskProgressColumn,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                DownloadColumn(binary_units=True), TransferSpeedColumn(),
                TimeRemainingColumn(), console=Console(file=stream), transient=False)
            self._task = self._progress.add_task(label, total=None)
            self._progress.start()

    def __call__(self, done: int, total: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=done, total=total)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def summary(verb: str, source: str, target: str, result: dict[str, Any], seconds: float) -> str:
    moved = result["size"] - result.get("resumed_from", 0)
    rate = f", {format_size(int(moved / seconds))}/s" if seconds > 0 and moved else ""
    line = (f"{verb} {source} -> {target}: {format_size(result['size'])} in {seconds:.2f} s"
            f"{rate}, {result['algorithm']} verified")
    if result.get("restarted"):
        line += "; the staged copy no longer matched, so it restarted from 0"
    elif result.get("resumed_from"):
        line += f"; resumed at {format_size(result['resumed_from'])}"
    return line


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.monotonic()

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started
