"""The loop's modes, one object each: the only place a mode's name is compared.

A run chooses five things, each a field of `loop`:
  - `judged`: where discrimination looks (the Cache Pool, the unseen Train Pool, or a slice of
    the Train Pool held back from training), which fixes where discrimination stands among an
    iteration's steps, which student it judges, what it costs and how it is named;
  - `parents`: where the generator's parents come from (the referee's split, or the Cache Pool
    at random), which fixes whether discrimination runs at all;
  - `preference`: whether a DPO step on the referee's hard pairs follows imitation;
  - `signal`: what says a judged instruction is hard (the referee's verdict, or the student's own
    loss on the teacher's answer, which calls no LLM);
  - `allocation`: which hard instructions the generator builds on (all of them, or only those
    whose line the student has not already failed to learn).

Each mode says what it needs of the others (`problems`), so the config refuses a combination
that cannot run with the field's file and line. A new mode is a class here and a line in its
registry; the plan, the runner, the stages and every view ask the chosen object.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

T = TypeVar("T")

SIDES = ("hard", "easy")


def held_back_count(share: float, pool: int) -> int:
    """How many of a Train Pool of `pool` instructions a held-back slice of `share` keeps out of
    training to judge: at least one and never all, so that a short pool still has both."""
    return min(max(round(share * pool), 1), pool - 1) if pool > 1 else 0


def held_back_problem(share: float, pool: int, what: str) -> str | None:
    """Why a share would, as configured, judge none of a pool or train on none of it; None when it works."""
    kept = round(share * pool)
    if 1 <= kept < pool:
        return None
    left = "hold back none of them, so the referee would judge nothing" if kept < 1 else "leave none of them to train on"
    return f"holding back {share} of {what} would {left}"


# --- where the generator's parents come from ------------------------------------------------


class Parents:
    name: ClassVar[str]
    uses_split: ClassVar[bool]  # whether a hard/easy split chooses the parents, so discrimination runs
    label: ClassVar[str]  # how the report and the dataset card name the choice

    def problems(self, settings: Mapping[str, Any]) -> dict[str, str]:
        return {}

    def sides(self, cache_pool: Sequence[T], hard: Sequence[T], easy: Sequence[T]) -> dict[str, Sequence[T]]:
        """Each side's parents, from the Cache Pool and the referee's hard and easy instructions."""
        raise NotImplementedError


class FromReferee(Parents):
    name, uses_split = "referee", True  # the paper's name: the referee's split, or loop.signal's
    label = "the hard and easy instructions of loop.signal's split (Lion)"

    def sides(self, cache_pool, hard, easy):
        return {"hard": hard, "easy": easy}


class AtRandom(Parents):
    """No referee: both sides draw from the whole Cache Pool, so the ratio of the two prompts
    (same task; rarer topic) stays as configured."""

    name, uses_split = "random", False
    label = "any Cache Pool instruction, no referee (one-way distillation)"

    def sides(self, cache_pool, hard, easy):
        return dict.fromkeys(SIDES, cache_pool)


PARENTS: dict[str, Parents] = {m.name: m for m in (FromReferee(), AtRandom())}
# the single string that once packed two choices: parents, and whether each side is drawn evenly over its kinds
OLD_PARENTS = {"referee-even": ("referee", True), "even": ("random", True)}


# --- where discrimination looks --------------------------------------------------------------


class Judged:
    name: ClassVar[str]
    pool_label: ClassVar[str]  # the pool judged, as messages and the report name it
    before_imitation: ClassVar[bool] = False  # discrimination comes first in an iteration
    pays_teacher: ClassVar[bool] = False  # its teacher answers are new (else imitation paid for them)
    needs_referee: ClassVar[bool] = True  # meaningful only when the referee's split chooses the parents
    holds_back: ClassVar[bool] = False  # imitation keeps a slice of the Train Pool out of training
    unseen_by_student: ClassVar[bool] = True  # the student judged has not trained on the pool
    report_note: ClassVar[str] = ""  # said after the pool's name in the report

    def kinds(self, referee: bool) -> list[str]:
        """An iteration's training and judging steps, in order; generation and the held-out
        evaluation follow them."""
        judge = ["discrimination"] if referee else []
        return [*judge, "imitation"] if self.before_imitation else ["imitation", *judge]

    def pool(self, train: Sequence[T], cache: Sequence[T], held_back: Sequence[T]) -> Sequence[T]:
        """What iteration k judges, from the Train Pool and Cache Pool it began with and the
        slice its imitation held back."""
        raise NotImplementedError

    def judged_count(self, share: float, train: int, cache: int) -> int:
        raise NotImplementedError

    def student(self, k: int) -> int:
        """The iteration whose student iteration k judges (0: the untrained one)."""
        return k

    def held_back(self, share: float, train: int) -> int:
        """How many of a Train Pool of `train` an (ordinary) imitation keeps out of training."""
        return 0

    def closing_differs(self, settings: Mapping[str, Any]) -> bool:
        """Whether the closing imitation, which trains on everything, differs from the imitation
        iteration N + 1 would do when the run is extended; if not, they are one step."""
        return False

    def problems(self, settings: Mapping[str, Any]) -> dict[str, str]:
        parents = settings.get("parents")
        if self.needs_referee and parents in PARENTS and not PARENTS[parents].uses_split:
            return {"judged": f"'{self.name}' needs a referee, and loop.parents '{parents}' has none"}
        return {}

    def seeds_problem(self, share: float, seeds: int) -> str | None:
        """Why the seeds cannot be the first Train Pool in this mode; None when they can."""
        return None


class AllTrained(Judged):
    """The paper: the student just trained on every Cache Pool instruction, judged on all of them."""

    name, pool_label = "cache_pool", "Cache Pool"
    needs_referee = False  # the default, so a run without a referee keeps it
    unseen_by_student = False

    def pool(self, train, cache, held_back):
        return cache

    def judged_count(self, share, train, cache):
        return cache


class Unseen(Judged):
    """The new Train Pool, judged with the student so far, before it trains on it: the teacher's
    answers are paid for here and imitation finds them in the cache."""

    name, pool_label, report_note = "unseen", "Train Pool", " (judged before training on it)"
    before_imitation, pays_teacher = True, True

    def pool(self, train, cache, held_back):
        return train

    def judged_count(self, share, train, cache):
        return train

    def student(self, k):
        return k - 1

    def closing_differs(self, settings):
        # with DPO, iteration N + 1's imitation would also learn from its own discrimination's pairs
        return PREFERENCES[settings.get("preference", "none")].trains_on_pairs


class HeldBack(Judged):
    """A slice of the Train Pool kept out of the training of the student just trained, judged by
    it, and trained on in the next iteration (or the closing imitation)."""

    name, pool_label = "held_back", "held-back slice of the Train Pool"
    holds_back = True

    def pool(self, train, cache, held_back):
        return held_back

    def judged_count(self, share, train, cache):
        return self.held_back(share, train)

    def held_back(self, share, train):
        return held_back_count(share, train)

    def closing_differs(self, settings):
        return True  # iteration N + 1 would hold a slice back; the closing imitation trains on it

    def problems(self, settings):
        out = super().problems(settings)
        n, share = settings.get("new_per_iteration"), settings.get("held_back")
        if n is not None and share is not None:
            problem = held_back_problem(share, n, f"the {n} new instructions of an iteration (loop.new_per_iteration)")
            if problem:
                out["held_back"] = problem
        return out

    def seeds_problem(self, share, seeds):
        return held_back_problem(share, seeds, f"the {seeds} seed instructions")


JUDGED: dict[str, Judged] = {m.name: m for m in (AllTrained(), Unseen(), HeldBack())}


# --- what follows imitation ------------------------------------------------------------------


class Preference:
    name: ClassVar[str]
    trains_on_pairs: ClassVar[bool]  # a DPO step on the referee's hard pairs follows imitation
    report_note: ClassVar[str]

    def problems(self, settings: Mapping[str, Any]) -> dict[str, str]:
        parents, signal = settings.get("parents"), settings.get("signal")
        if self.trains_on_pairs and parents in PARENTS and not PARENTS[parents].uses_split:
            return {"preference": f"'{self.name}' trains on the referee's verdicts, and loop.parents '{parents}' has no referee"}
        if self.trains_on_pairs and signal in SIGNALS and not SIGNALS[signal].compares_answers:
            return {"preference": f"'{self.name}' trains on pairs of the teacher's and the student's answers, and "
                                  f"loop.signal '{signal}' compares none"}
        return {}


class ImitationOnly(Preference):
    name, trains_on_pairs, report_note = "none", False, ""


class Dpo(Preference):
    name, trains_on_pairs, report_note = "dpo", True, ", then DPO on the referee's hard pairs"


PREFERENCES: dict[str, Preference] = {m.name: m for m in (ImitationOnly(), Dpo())}


# --- what says an instruction is hard ------------------------------------------------------


class Signal:
    name: ClassVar[str]
    calls_referee: ClassVar[bool]  # the referee judges each pair, so the plan and the estimate count its calls
    compares_answers: ClassVar[bool]  # the student answers the judged pool, to be compared with the teacher
    label: ClassVar[str]  # how the report and the dataset card name it
    measure: ClassVar[str | None] = None  # the SplitRecord field that says how hard an instruction is, as the report draws it
    # what to change when a split is almost all easy (more_hard) or almost all hard (fewer_hard)
    more_hard: ClassVar[str] = "make loop.signal call more instructions hard"
    fewer_hard: ClassVar[str] = "make loop.signal call fewer instructions hard"

    def problems(self, settings: Mapping[str, Any]) -> dict[str, str]:
        return {}

    def split_advice(self, almost_all_hard: bool, judged: Judged) -> str:
        """What to change when this signal's split of the pool that `judged` names leaves one side
        nearly empty: almost all hard, or almost all easy."""
        return self.fewer_hard if almost_all_hard else self.more_hard


class RefereeVerdict(Signal):
    """The paper: the referee scores both answers; hard when d = teacher - student >= tau."""

    name, calls_referee, compares_answers = "referee", True, True
    label = "the referee's verdict, hard when d = teacher - student >= tau"
    measure, more_hard, fewer_hard = "d", "lower loop.tau", "raise loop.tau"

    def split_advice(self, almost_all_hard, judged):
        advice = super().split_advice(almost_all_hard, judged)
        if not almost_all_hard and not judged.unseen_by_student:
            # a student judged on what it has just trained on answers nearly all of it as the teacher does
            advice += ", or judge instructions the student has not trained on (loop.judged: held_back)"
        return advice


class StudentLoss(Signal):
    """The student's loss on the teacher's answer with and without the instruction (IFD); the
    judged instructions with the highest IFD are hard. No LLM call, no student answer."""

    name, calls_referee, compares_answers = "student_loss", False, False
    label = "the student's loss (IFD), hard in the top loop.loss_hard_share"
    measure, more_hard, fewer_hard = "ifd", "set loop.loss_hard_share nearer 0.5", "set loop.loss_hard_share nearer 0.5"

    def problems(self, settings):
        parents, judged = settings.get("parents"), settings.get("judged")
        if parents in PARENTS and not PARENTS[parents].uses_split:
            return {"signal": f"'{self.name}' splits instructions for the generator's parents, and loop.parents "
                              f"'{parents}' draws them at random, so nothing would use it: set loop.parents to 'referee'"}
        if judged in JUDGED and not JUDGED[judged].unseen_by_student:
            return {"signal": f"'{self.name}' needs instructions the student has not trained on, and with loop.judged "
                              f"'{judged}' it has trained on every one it judges: set loop.judged to 'held_back' or 'unseen'"}
        return {}


SIGNALS: dict[str, Signal] = {m.name: m for m in (RefereeVerdict(), StudentLoss())}


# --- which hard instructions the generator builds on ----------------------------------------


class Allocation:
    name: ClassVar[str]
    label: ClassVar[str]

    def problems(self, settings: Mapping[str, Any]) -> dict[str, str]:
        return {}

    def hard_side(self, hard: Sequence[T], stalled: Callable[[T], bool]) -> list[T]:
        """The hard side's parents, from the instructions the signal calls hard."""
        raise NotImplementedError


class AllHard(Allocation):
    name, label = "hard", "every hard instruction (Lion)"

    def hard_side(self, hard, stalled):
        return list(hard)


class Learnable(Allocation):
    """Hard, but not stalled: an instruction is stalled when the student has trained on its line
    and fails it again (see `lion.loop.stages.generation.stalled`), so more of the same would
    not teach it. Whatever the split, the easy side keeps its share."""

    name, label = "learnable", "hard instructions whose line the student has not failed again (learnable)"

    def problems(self, settings):
        parents = settings.get("parents")
        if parents in PARENTS and not PARENTS[parents].uses_split:
            return {"allocation": f"'{self.name}' chooses among the hard instructions, and loop.parents '{parents}' "
                                  "has no hardness signal: set loop.parents to 'referee'"}
        return {}

    def hard_side(self, hard, stalled):
        return [h for h in hard if not stalled(h)]


ALLOCATIONS: dict[str, Allocation] = {m.name: m for m in (AllHard(), Learnable())}


def problem(field: str, settings: Mapping[str, Any]) -> str | None:
    """What the chosen modes find wrong with `field`, given the loop's settings read so far."""
    chosen = (PARENTS.get(settings.get("parents", "")), JUDGED.get(settings.get("judged", "")),
              PREFERENCES.get(settings.get("preference", "")), SIGNALS.get(settings.get("signal", "")),
              ALLOCATIONS.get(settings.get("allocation", "")))
    for mode in chosen:
        if mode is not None and (found := mode.problems(settings).get(field)):
            return found
    return None
