"""The step plan: which steps a run takes, in which order, and what each asks of the LLM roles.

It is one function of the config (and of whether the run has held-out questions). The loop
runs it, `lion status` shows it and `lion estimate` counts its calls, so the three cannot
disagree. A new step is added here, a new loop mode in `lion.core.modes`, and nowhere else.

Requests per step, with N new instructions per iteration, H held-out questions, and the
Train and Cache Pools the iteration starts from:
  - held-out before training: the teacher answers the H questions and the judge sees each
    pair in both orders, 2 * H;
  - imitation: the teacher answers the Train Pool;
  - discrimination: the teacher answers the Cache Pool, every instruction of which it answered
    when it was in a Train Pool (the same request, so the cache answers and nothing is paid);
    the referee judges every Cache Pool pair, in both orders unless `loop.both_orders` is off.
    Other modes of `loop.judged` judge other pools (see `lion.core.modes`), and with
    `loop.signal: student_loss` the referee is not called at all;
  - generation: one generator call per new instruction when every reply is kept, up to
    max_attempts_factor times the quota of each side (hard and easy);
  - held-out after an iteration: the teacher's answers again (cached) and the judge, 2 * H;
  - after the last iteration, the closing imitation: the teacher answers the last generation's
    N instructions and the student trains on them, then the held-out evaluation. So the teacher
    answers the seeds and N per iteration, and every answer reaches the final student.
An unreadable verdict is asked again up to `parse_retries` times, which makes the upper bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lion.core.config import RunConfig
from lion.loop.run_folder import RunFolder

Kind = Literal["setup", "heldout", "imitation", "discrimination", "generation"]
KINDS: tuple[Kind, ...] = ("setup", "heldout", "imitation", "discrimination", "generation")
ROLES = ("teacher", "referee", "generator", "judge")


@dataclass(frozen=True)
class Step:
    """One resumable unit of a run; `name` is its key in state.json."""

    name: str
    kind: Kind
    iteration: int  # 0: before the first iteration
    closing: bool = False  # the imitation after the last generation, and its held-out evaluation


@dataclass(frozen=True)
class Sizes:
    """What the steps of iteration k work on: predicted before a run, read from one after."""

    train: int  # the Train Pool the iteration starts from
    cache: int  # the Cache Pool it starts from
    heldout: int  # held-out questions


@dataclass(frozen=True)
class Calls:
    """A role's requests in a step: as many as expected when every reply is usable, at most
    with every re-ask, and of those the ones an earlier step has paid for (the cache answers)."""

    expected: int
    at_most: int
    answered_before: int = 0

    @property
    def paid(self) -> int:
        return self.expected - self.answered_before

    @property
    def paid_at_most(self) -> int:
        return self.at_most - self.answered_before


def step_name(k: int, kind: str) -> str:
    """Iteration k's step of a kind, as state.json and the spend accounts name it."""
    return f"{k}.{kind}"


def iteration_of(name: str) -> int:
    """The iteration a step's name belongs to; 0 for the steps before the first."""
    k, dot, _ = name.partition(".")
    return int(k) if dot and k.isdigit() else 0


SETUP = Step("setup", "setup", 0)  # seeds, held-out set, base student: first, whatever the variant


def steps(cfg: RunConfig, evaluates: bool) -> list[Step]:
    """Every step of the run, in the order the loop takes them.

    After the last generation a closing imitation trains the student on what it wrote, so every
    instruction the teacher answers reaches the final student. It is iteration N + 1's
    imitation, one step that an extended run does not take again, unless the loop's modes make
    the two differ (a held-back slice); then it has a name of its own, and an extended run
    trains iteration N + 1's student its own way.
    """
    loop = cfg.loop
    heldout: list[Kind] = ["heldout"] if evaluates else []
    plan = [SETUP, *([Step("before", "heldout", 0)] if evaluates else [])]
    for k in range(1, loop.iterations + 1):
        kinds = [*loop.judging.kinds(loop.uses_split), "generation", *heldout]
        plan += [Step(step_name(k, kind), kind, k) for kind in kinds]
    last = loop.iterations + 1
    suffix = CLOSING if loop.closing_differs else ""
    return plan + [Step(step_name(last, kind) + suffix, kind, last, closing=True) for kind in ["imitation", *heldout]]


CLOSING = ":closing"  # the suffix of a closing step that is not the next iteration's


def student_steps(k: int) -> list[str]:
    """Every name of a step that trains iteration k's student or scores it, the ordinary way or
    the closing one: when one of them trains the student again, the others' results are void."""
    return [step_name(k, kind) + suffix for kind in ("imitation", "heldout") for suffix in ("", CLOSING)]


def evaluates(cfg: RunConfig, run: RunFolder) -> bool:
    """Whether the run scores its student on held-out questions: after setup, whether its
    held-out set holds any (a question file whose every question is also a seed holds none);
    before, whether the config asks for one."""
    path = run.heldout_questions
    if path.exists():
        with path.open(encoding="utf-8") as f:
            return any(line.strip() for line in f)
    return cfg.evaluation.heldout != "none"


def run_steps(cfg: RunConfig, run: RunFolder) -> list[Step]:
    """The plan of an existing or new run folder."""
    return steps(cfg, evaluates(cfg, run))


def predicted_sizes(cfg: RunConfig, seeds: int, heldout: int, k: int) -> Sizes:
    """Iteration k's pools when the generator fills every quota: the seeds first, then the
    N instructions made in iteration k - 1 as the Train Pool, while the Cache Pool keeps all."""
    n = cfg.loop.new_per_iteration
    return Sizes(train=seeds if k == 1 else n, cache=seeds + (k - 1) * n, heldout=heldout)


def _records(path: Path) -> int:
    """Lines holding a record in a JSONL file."""
    with path.open(encoding="utf-8") as f:
        return sum(1 for line in f if line.strip())


def run_sizes(cfg: RunConfig, run: RunFolder, last: int) -> dict[int, Sizes]:
    """What iterations 0..last work on (0: the steps before the first): the pools each starts
    from where they are written, and past them the pools grown by N instructions an iteration,
    as `predicted_sizes` has them. Empty before the setup has written the seed pools."""
    if not run.pools(0).cache.exists():
        return {}
    questions = _records(run.heldout_questions) if run.heldout_questions.exists() else 0
    n, sizes = cfg.loop.new_per_iteration, {}
    known = Sizes(train=_records(run.pools(0).train), cache=_records(run.pools(0).cache), heldout=questions)
    for k in range(last + 1):
        pools = run.pools(max(k - 1, 0))
        if pools.train.exists() and pools.cache.exists():
            known = Sizes(train=_records(pools.train), cache=_records(pools.cache), heldout=questions)
        else:  # an iteration not begun: the last known pools, N more for each iteration between
            known = Sizes(train=n, cache=known.cache + n, heldout=questions)
        sizes[k] = known
    return sizes


def work(step: Step, cfg: RunConfig, sizes: Sizes) -> int:
    """What a step's time grows with, in a unit of its kind, so that one step's time scales to
    another's: the examples imitation trains on (every pool so far when the student is
    retrained from the base model, `cumulative`; the Train Pool when it goes on, `continue`),
    the instructions discrimination judges, the instructions generation writes, the questions
    a held-out evaluation asks. Pools grow every iteration, and the closing imitation trains
    on all of them, so the same kind of step takes longer later in a run."""
    loop = cfg.loop
    if step.kind == "imitation":
        return sizes.cache if cfg.student.strategy == "cumulative" else sizes.train
    if step.kind == "discrimination":
        return loop.judging.judged_count(loop.held_back, sizes.train, sizes.cache)
    if step.kind == "generation":
        return loop.new_per_iteration
    if step.kind == "heldout":
        return sizes.heldout
    return 1


def calls(step: Step, cfg: RunConfig, sizes: Sizes) -> dict[str, Calls]:
    """What the step asks of each role that it calls, given the sizes it works on."""
    loop = cfg.loop

    def judged(role: str, pairs: int) -> Calls:
        return Calls(pairs, pairs * (1 + getattr(cfg, role).parse_retries))

    if step.kind == "heldout":  # the first evaluation pays for the teacher's answers, the later ones reuse them
        h = sizes.heldout
        return {"teacher": Calls(h, h, answered_before=h if step.iteration else 0), "judge": judged("judge", 2 * h)}
    paid_before = loop.judging.pays_teacher and not step.closing  # no discrimination precedes the closing one
    if step.kind == "imitation":  # discrimination may have paid for these answers already
        return {"teacher": Calls(sizes.train, sizes.train, answered_before=sizes.train if paid_before else 0)}
    if step.kind == "discrimination":
        pool = loop.judging.judged_count(loop.held_back, sizes.train, sizes.cache)
        teacher = {"teacher": Calls(pool, pool, answered_before=0 if loop.judging.pays_teacher else pool)}
        if not loop.hardness.calls_referee:  # the student's own loss: no LLM call
            return teacher
        return {**teacher, "referee": judged("referee", (2 if loop.both_orders else 1) * pool)}
    if step.kind == "generation":  # each side, hard and easy, has its own budget of attempts
        n, hard = loop.new_per_iteration, round(loop.new_per_iteration * loop.hard_share)
        return {"generator": Calls(n, sum(math.ceil(q * loop.max_attempts_factor) for q in (hard, n - hard)))}
    return {}
