"""What each hardness signal does with the judged pool (`loop.signal`; the modes themselves are
in `lion.core.modes`): from the teacher's usable answers to one split record per instruction.

The referee's signal has the student answer and the referee judge each pair in both orders
(the paper). The student-loss signal calls no LLM: the student scores the teacher's answer with
and without the instruction (`lion.student.loss`), and the judged instructions with the highest
ratio (IFD: the instruction helps the student least) are hard. Ranking, not a threshold, makes
the split a fixed share whatever the student's size or the answers' length, so it cannot say
"all hard" or "all easy".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lion.core import atomic
from lion.core.modes import held_back_count
from lion.core.records import Instruction, Response, SplitRecord, write_jsonl
from lion.llm.position_bias import bias_stats, describe_bias
from lion.loop.answer_and_judge import judge_answers
from lion.loop.answers import student_answers
from lion.loop.context import Context


@dataclass
class Split:
    """A signal's records, and the instructions it could not place (with the reason)."""

    records: list[SplitRecord]
    failed: list[dict] = field(default_factory=list)


Splitter = Callable[[Context, int, list[tuple[Instruction, str]], Path], Split]


def hard_count(share: float, judged: int) -> int:
    """How many of `judged` ranked instructions a share calls hard: at least one and never all,
    so that a short pool still has both sides (the rule of a held-back slice; a lone instruction is hard)."""
    return held_back_count(share, judged) if judged > 1 else judged


def hardest(usable: list[tuple[Instruction, str]], hardness: list[float], share: float) -> list[bool]:
    """Whether each instruction is among the `share` of them with the highest hardness (ties broken
    by id, so a rerun splits the same)."""
    ranked = sorted(range(len(usable)), key=lambda i: (-hardness[i], usable[i][0].id))
    hard = set(ranked[: hard_count(share, len(usable))])
    return [i in hard for i in range(len(usable))]


def referee_gap(teacher_score: float, student_score: float, tau: float) -> tuple[float, bool]:
    """d = teacher - student, and whether it reaches tau (hard: a tie at tau is hard)."""
    d = teacher_score - student_score
    return d, d >= tau


def by_referee(ctx: Context, k: int, usable: list[tuple[Instruction, str]], student: Path) -> Split:
    """The student answers; the referee scores both answers, d = teacher - student, hard when d >= tau."""
    out = ctx.run.iteration(k).discrimination
    pool = [it for it, _ in usable]
    s = student_answers(ctx, student, pool, f"iter {k} discrimination: student answers")
    write_jsonl(out.student_answers, [Response(id=i.id, instruction=i.instruction, input=i.input, text=a)
                                      for i, a in zip(pool, s)])
    judged = judge_answers(ctx.roles.referee, "referee", ctx.cfg.referee, f"iter {k} discrimination: referee", pool,
                           [t for _, t in usable], s, both_orders=ctx.cfg.loop.both_orders).judged
    for note in judged.notes:
        ctx.say(f"  note: {note}")
    judgements, split = [], Split([])
    for v in judged.verdicts:
        judgements.append({
            "id": v.id,
            "teacher_first": {"raw": v.raw_a_first, "scores": v.a_first and {"teacher": v.a_first[0], "student": v.a_first[1]}},
            "student_first": {"raw": v.raw_b_first, "scores": v.b_first and {"teacher": v.b_first[0], "student": v.b_first[1]}},
            "teacher_score": v.a_score,
            "student_score": v.b_score,
            "error": v.error,
        })
        if v.error:
            split.failed.append({"id": v.id, "reason": v.error})  # judged, but no verdict
            continue
        d, hard = referee_gap(v.a_score, v.b_score, ctx.cfg.loop.tau)
        split.records.append(SplitRecord(id=v.id, teacher_score=v.a_score, student_score=v.b_score, d=d, hard=hard))
    write_jsonl(out.judgements, judgements)
    bias = {"mode": judged.mode, "asked_again": judged.asked_again, **bias_stats(judged.verdicts, ctx.cfg.loop.tau)}
    atomic.write_json(out.bias, bias)
    ctx.say(describe_bias(bias, "referee"))
    return split


def by_student_loss(ctx: Context, k: int, usable: list[tuple[Instruction, str]], student: Path) -> Split:
    """The student's loss on each teacher answer with and without its instruction; the top
    `loop.loss_hard_share` by IFD are hard (ties broken by id, so a rerun splits the same)."""
    from lion.student.loss import answer_losses  # torch: imported only when a student scores

    cfg = ctx.cfg
    losses = answer_losses(student, [(it.instruction, it.input, answer) for it, answer in usable],
                           cfg.student.prompt_format, cfg.student.generate.batch_size, ctx.threads,
                           f"iter {k} discrimination: student loss")
    hard = hardest(usable, [loss.ifd for loss in losses], cfg.loop.loss_hard_share)
    return Split([SplitRecord(id=it.id, loss=loss.given, loss_alone=loss.alone, ifd=loss.ifd, hard=h)
                  for (it, _), loss, h in zip(usable, losses, hard)])


# loop.signal's name -> what it does; every signal of `lion.core.modes.SIGNALS` has one here
SPLITTERS: dict[str, Splitter] = {"referee": by_referee, "student_loss": by_student_loss}
