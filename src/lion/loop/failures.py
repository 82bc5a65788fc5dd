"""The one sentence that stops a run when a stage has nothing usable to hand on.

A stage whose every item failed (every judgement unreadable, every answer empty) would
otherwise pass on nothing, and the run would go on to report scores of nobody and a student
trained on nothing. It stops instead, naming the role, how many failed and the commonest
reason, after writing its outputs so the failures can be read.
"""

from __future__ import annotations

from collections import Counter

from lion.core.errors import LionError


def nothing_usable(role: str, what: str, reasons: list[str], hint: dict[str, str] | None = None) -> LionError:
    """`what` says what came to nothing ("none of the 20 answers ... can be trained on");
    `hint` adds advice for a reason, where there is some to give."""
    reason, n = Counter(reasons).most_common(1)[0] if reasons else ("no reason recorded", 0)
    advice = (hint or {}).get(reason, "")
    return LionError(f"{role}: {what}; the commonest problem, {n} of {len(reasons)}: {reason}{advice}.")
