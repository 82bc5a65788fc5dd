"""Progress bars for long steps, on stderr so stdout stays for results."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Callable

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True)


def quiet() -> bool:
    return os.environ.get("LION_QUIET", "") not in ("", "0")


@contextmanager
def bar(label: str, total: int) -> Iterator[Callable[[int], None]]:
    """Yield `advance(n)`; draws nothing in quiet mode, for empty work, or when not on a terminal."""
    if quiet() or total == 0 or not console.is_terminal:
        yield lambda n=1: None
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as p:
        task = p.add_task(label, total=total)
        yield lambda n=1: p.advance(task, n)
