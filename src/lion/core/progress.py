"""Progress of long steps: bars on a terminal, timed lines elsewhere, and a record in the run folder.

A bar goes to stderr so stdout stays for results. Where stderr is not a terminal (a log file, a
CI job) a bar becomes a plain line every half minute and one when it ends, so a log shows the
run is alive; quiet mode (`--quiet` or LION_QUIET=1) drops both. While a run records itself
(`recording`), the bar of the step running now is kept in its `progress.json` for `lion status`,
and every message and finished bar is appended to its log, with the time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from lion.core import atomic

console = Console(stderr=True)

_LINE_EVERY_S = 30.0  # plain progress lines, where no bar can be drawn
_SNAPSHOT_EVERY_S = 1.0  # progress.json rewrites


def quiet() -> bool:
    return os.environ.get("LION_QUIET", "") not in ("", "0")


@dataclass
class _Record:
    progress_path: Path
    log: TextIO


_record: _Record | None = None
_cut_short: str | None = None  # the latest bar closed, when it closed before its total: `label: done/total`


@contextmanager
def recording(progress_path: Path, log_path: Path) -> Iterator[None]:
    """Keep this process's bars and messages in a run folder until the block ends."""
    global _record
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a", encoding="utf-8", buffering=1) as log:
        _record = _Record(progress_path, log)
        try:
            yield
        finally:
            _record = None
            progress_path.unlink(missing_ok=True)


def cut_short() -> str | None:
    """How far the latest bar got, as `label: done/total`, when it closed before its end (a
    Ctrl-C or an error stopped it); None when it ran to its end. A message about an interrupt
    uses it to say where in a long step the run stopped."""
    return _cut_short


def log(message: str) -> None:
    """Append a message (rich markup removed) to the run's log, when one is recording."""
    if _record is not None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        for line in Text.from_markup(message).plain.splitlines() or [""]:
            _record.log.write(f"{stamp}  {line}\n")


def warn(message: str) -> None:
    """Tell the user of something that changes what a step makes, on stderr (quiet mode drops
    progress only) and in the run's log."""
    console.print(message, style="yellow", highlight=False, markup=False, soft_wrap=True)
    log(message)


def duration(s: float) -> str:
    """Seconds as `42s`, `3m05s` or `2h07m`."""
    s = int(s)
    return f"{s // 3600}h{s // 60 % 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


@dataclass
class _Tracker:
    """What a bar has done, for the plain lines, `progress.json` and the log."""

    label: str
    total: int
    info: str
    lines: bool
    started: float = field(default_factory=time.time)
    done: int = 0
    failed: int = 0  # of those done, the items that came to nothing: a bar must not read as all well
    _snapshot_at: float = 0.0
    _line_at: float = field(default_factory=time.time)

    def summary(self) -> str:
        elapsed = time.time() - self.started
        text = f"{self.label}: {self.done:,}/{self.total:,}" + self._failed_text()
        if self.done and self.done < self.total:
            text += f", eta {duration(elapsed / self.done * (self.total - self.done))}"
        text += f", {self.done / elapsed:.1f}/s" if elapsed > 0 and self.done else ""
        return text + (f", {self.info}" if self.info else "")

    def _failed_text(self) -> str:
        return f" ({self.failed:,} failed)" if self.failed else ""

    def advance(self, n: int = 1, info: str | None = None, failed: int = 0) -> None:
        self.done += n
        self.failed += failed
        if info is not None:
            self.info = info
        now = time.time()
        if self.lines and now - self._line_at >= _LINE_EVERY_S:
            self._line_at = now
            console.print(self.summary(), highlight=False, markup=False)
        if _record is not None and now - self._snapshot_at >= _SNAPSHOT_EVERY_S:
            self._snapshot_at = now
            atomic.write_json(_record.progress_path, {
                "label": self.label, "done": self.done, "total": self.total, "info": self.info,
                "started": self.started, "updated": now, "line": self.summary(),
            })

    def close(self) -> None:
        global _cut_short
        if self.total == 0:
            return
        _cut_short = f"{self.label}: {self.done:,}/{self.total:,}" if self.done < self.total else None
        took = f" in {duration(time.time() - self.started)}"
        ended = f"{self.label}: {self.done:,}/{self.total:,}{self._failed_text()}{took}" + (f", {self.info}" if self.info else "")
        if self.lines:
            console.print(ended, highlight=False, markup=False)
        log(ended)
        if _record is not None:
            _record.progress_path.unlink(missing_ok=True)


class RateColumn(ProgressColumn):
    """Items per second, for work counted in calls or answers rather than bytes."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:.1f}/s" if task.speed else "")


@contextmanager
def bar(label: str, total: int, info: str = "") -> Iterator[Callable[..., None]]:
    """Yield `advance(n=1, info=None, failed=0)`; `info` is a short note shown after the bar (e.g.
    spend), `failed` counts those of the n items that came to nothing."""
    draw = console.is_terminal and not quiet() and total > 0
    tracker = _Tracker(label, total, info, lines=not console.is_terminal and not quiet())
    if not draw:
        try:
            yield tracker.advance
        finally:
            tracker.close()
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
    )
    with Progress(*columns, console=console, transient=True) as p:
        task = p.add_task(label, total=total, info=info)

        def advance(n: int = 1, info: str | None = None, failed: int = 0) -> None:
            tracker.advance(n, info, failed)
            shown = f"{tracker.failed:,} failed " if tracker.failed else ""
            p.update(task, advance=n, info=shown + tracker.info)

        try:
            yield advance
        finally:
            tracker.close()
