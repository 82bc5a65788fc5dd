"""The oracle: a hardness signal that knows the truth, for the ablation benchmark only.

The arena knows every instruction's kind and every right answer. Before each generation the
oracle has the current student answer a probe set: arena questions drawn like the held-out set
(inputs no training task uses) with a seed of their own, less any question of the run's
held-out set, so the evaluation never sees them. A kind's accuracy p is the share of its probe
questions the student gets right (the arena grades the answer 5 or more of 10: right, if
cluttered). A judged instruction is hard when its kind's p is below 1/2. The allocation rule
(`loop.allocation`) then works on that split as it does on the referee's or the student
loss's, so the oracle's gain over one-way is the most any hardness signal could buy in this
world under that rule.

It is no user feature: `lion` itself does not know the signal `oracle`, so no config reaches
it. This module registers it in the process that imports it, and run as a script it is the
`lion` command with the oracle known (the ablation's experiment starts its oracle runs so):

    python benchmarks/oracle.py run configs/ablation.yaml --out OUT --set loop.signal=oracle ...
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

from lion.arena import grade, heldout_set, parse
from lion.core import atomic, modes
from lion.core.records import Instruction, SplitRecord, read_jsonl
from lion.loop.answers import student_answers
from lion.loop.context import Context
from lion.loop.signals import SPLITTERS, Split, hardest
from lion.loop.stages.heldout import HeldoutItem

PROBE_SIZE = 180  # 20 per procedural kind
PROBE_SEED = 7919  # added to the run's seed: a probe set of its own, never the held-out set


class Oracle(modes.Signal):
    name, calls_referee, compares_answers = "oracle", False, False
    label = "the oracle: the student's accuracy per kind on a probe set (benchmark only)"

    def problems(self, settings):
        parents = settings.get("parents")
        if parents in modes.PARENTS and not modes.PARENTS[parents].uses_split:
            return {"signal": "the oracle splits instructions for the generator's parents; set loop.parents to 'referee'"}
        return {}


def probe(ctx: Context) -> list[Instruction]:
    """The probe questions: drawn like the held-out set, with another seed, less the held-out set's own."""
    cfg = ctx.cfg
    heldout = {h.id for h in read_jsonl(ctx.run.heldout_questions, HeldoutItem)}
    drawn = heldout_set(PROBE_SIZE, cfg.loop.seed + PROBE_SEED, cfg.data.arena_sums, cfg.data.arena_procedures,
                        cfg.data.arena_facts)
    items = [Instruction.make(h["instruction"], h["input"]) for h in drawn]
    return [it for it in items if it.id not in heldout]


def kind_of(it: Instruction) -> str | None:
    task = parse(it.instruction, it.input)
    return task.family if task else None


def score_by_kind(ctx: Context, k: int, student: Path) -> dict[str, float]:
    """Each kind's mean mark over 10 on the probe set: 0.1 for garbage, 1.0 for clean right answers."""
    questions = probe(ctx)
    answers = student_answers(ctx, student, questions, f"iter {k} oracle: probe answers")
    marks: dict[str, list[float]] = defaultdict(list)
    for q, a in zip(questions, answers):
        task = parse(q.instruction, q.input)
        if task is not None:
            marks[task.family].append(grade(task, a) / 10)
    return {kind: sum(m) / len(m) for kind, m in sorted(marks.items())}


def by_oracle(ctx: Context, k: int, usable: list[tuple[Instruction, str]], student: Path) -> Split:
    """Hard: the judged instructions of the kinds the student does worst on the probe, the
    `loop.loss_hard_share` of them (ties by id); an instruction the arena cannot read takes the
    mean score of all kinds."""
    scores = score_by_kind(ctx, k, student)
    atomic.write_json(ctx.run.iteration(k).discrimination.root / "oracle.json", {"score_by_kind": scores})
    ctx.say("  oracle score by kind: " + ", ".join(f"{kind} {p:.2f}" for kind, p in scores.items()))
    mean = sum(scores.values()) / len(scores) if scores else 0.0
    score = [scores.get(kind_of(it) or "", mean) for it, _ in usable]
    hard = hardest(usable, [-p for p in score], ctx.cfg.loop.loss_hard_share)  # the lowest score is the hardest
    return Split([SplitRecord(id=it.id, hard=h) for (it, _), h in zip(usable, hard)])


def register() -> None:
    """Make the oracle a signal of this process; harmless when called twice."""
    modes.SIGNALS.setdefault(Oracle.name, Oracle())
    SPLITTERS.setdefault(Oracle.name, by_oracle)


if __name__ == "__main__":
    register()
    from lion.cli import main

    sys.argv[0] = "lion"
    main()
