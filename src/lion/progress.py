"""Progress bars for long steps, on stderr so stdout stays for results."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

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

console = Console(stderr=True)


def quiet() -> bool:
    return os.environ.get("LION_QUIET", "") not in ("", "0")


class RateColumn(ProgressColumn):
    """Items per second, for work counted in calls or answers rather than bytes."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:.1f}/s" if task.speed else "")


@contextmanager
def bar(label: str, total: int, info: str = "") -> Iterator[Callable[..., None]]:
    """Yield `advance(n=1, info=None)`; `info` is a short note shown after the bar (e.g. spend).

    Draws nothing in quiet mode, for empty work, or when not on a terminal.
    """
    if quiet() or total == 0 or not console.is_terminal:
        yield lambda n=1, info=None: None
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

        def advance(n: int = 1, info: str | None = None) -> None:
            p.update(task, advance=n, **({"info": info} if info is not None else {}))

        yield advance
