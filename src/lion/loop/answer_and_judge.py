"""One way from two sides' answers to verdicts, for the referee's discrimination, the held-out
evaluation and `lion eval`.

A pair is judged only when both sides have an answer; an item that either side has none for is
left out with the reason and never judged, so no score is invented for it. The teacher has no
answer where the server rejected the request and where its answer is empty: a verdict against
nothing means nothing, and for the same reason imitation never trains on an empty answer.
`lion eval` judges against its reference's answers as the source gives them, empty or not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from lion.core.chat import Completion
from lion.core.config import RoleConfig
from lion.core.records import Instruction
from lion.llm.dispatch import Failed, Result, Role
from lion.llm.judging import Judged, PairItem, Verdict, judge_pairs
from lion.loop.answers import teacher_answers
from lion.loop.context import Context

EMPTY_TEACHER_ANSWER = "the teacher's answer is empty"


def is_empty(text: str) -> bool:
    """The one rule for an empty answer: an answer of blanks says no more than none."""
    return not text.strip()


@dataclass(frozen=True)
class LeftOut:
    """Why a side has no answer to an item, in the words its record gives."""

    reason: str


class Asked(Protocol):
    """What the judge is shown of an item besides the two answers."""

    id: str
    instruction: str
    input: str


@dataclass
class TeacherAnswers:
    """The teacher's answers to a list of instructions, sorted by the rule above."""

    items: list[Instruction]
    results: list[Result]

    def failed(self) -> list[tuple[Instruction, Failed]]:
        return [(it, r) for it, r in zip(self.items, self.results) if isinstance(r, Failed)]

    def answered(self) -> list[tuple[Instruction, Completion]]:
        """What the server answered, empty answers among them: they are the teacher's record."""
        return [(it, r) for it, r in zip(self.items, self.results) if not isinstance(r, Failed)]

    def empty(self) -> list[Instruction]:
        return [it for it, r in self.answered() if is_empty(r.text)]

    def usable(self) -> list[tuple[Instruction, str]]:
        """The items with an answer to judge against, and the answer."""
        return [(it, ref) for it, ref in zip(self.items, self.reference()) if not isinstance(ref, LeftOut)]

    def reference(self) -> list[str | LeftOut]:
        """Each item's answer to judge against, or why there is none."""
        return [_reference(r) for r in self.results]


def _reference(r: Result) -> str | LeftOut:
    if isinstance(r, Failed):
        return LeftOut(f"no teacher answer: {r.reason}")
    return LeftOut(EMPTY_TEACHER_ANSWER) if is_empty(r.text) else r.text


def ask_teacher(ctx: Context, items: list[Instruction], label: str) -> TeacherAnswers:
    return TeacherAnswers(items, teacher_answers(ctx, items, label))


@dataclass
class Judging:
    """Each item's verdict, or why it was left out before judging; one of the two per item."""

    verdicts: list[Verdict | None]
    left_out: list[str | None]
    judged: Judged  # of the pairs that were judged: the mode, the notes and what the position bias is read from


def judge_answers(
    role: Role, prompt: str, cfg: RoleConfig, label: str, items: Sequence[Asked],
    reference: Sequence[str | LeftOut], candidate: Sequence[str | LeftOut], both_orders: bool = True,
) -> Judging:
    """Judge `candidate` against `reference` (the `a` side) on every item both answered.

    Where neither side answered, the candidate's reason is the one given: it is the side scored.
    """
    left_out = [next((side.reason for side in (c, r) if isinstance(side, LeftOut)), None)
                for r, c in zip(reference, candidate)]
    kept = [i for i, why in enumerate(left_out) if why is None]
    pairs = [PairItem(items[i].id, items[i].instruction, items[i].input, reference[i], candidate[i]) for i in kept]
    judged = judge_pairs(role, prompt, pairs, cfg, label, both_orders)
    verdicts: list[Verdict | None] = [None] * len(items)
    for i, v in zip(kept, judged.verdicts):
        verdicts[i] = v
    return Judging(verdicts, left_out, judged)
