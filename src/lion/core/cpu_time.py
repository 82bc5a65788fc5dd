"""Where a step's CPU time goes.

A step's CPU seconds hold our own code, the student's work (training, answering, scoring) and,
on the arena, the LLM roles it plays in this process. The run folder records each part, so
`lion status --json` and `benchmarks/scale.py` can tell what our code costs beside the work it
orders. Metered parts must not nest: an inner part would be counted twice.
"""

from __future__ import annotations

import resource
import sys
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

_spent: defaultdict[str, float] = defaultdict(float)


def used() -> float:
    """CPU seconds of this process and of its children that ended (training ranks among them)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def peak_rss_mb() -> float:
    """The largest resident set this process or a child that ended has had, in MB."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    per_mb = 2**20 if sys.platform == "darwin" else 2**10  # ru_maxrss is in bytes on macOS, in KB on Linux
    return max(me.ru_maxrss, children.ru_maxrss) / per_mb


@contextmanager
def metered(part: str) -> Iterator[None]:
    """Count the CPU seconds of the block (or of each call, as a decorator) towards `part`."""
    start = used()
    try:
        yield
    finally:
        _spent[part] += used() - start


def spent() -> dict[str, float]:
    """Each part's CPU seconds since this process started."""
    return dict(_spent)
