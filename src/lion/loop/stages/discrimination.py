"""Discrimination: teacher and student answer a pool; the referee finds the hard ones.

The pool is the Cache Pool, judged with the student just trained on it (the paper); with
`loop.judged: unseen` the new Train Pool, judged with the student of the iteration before,
which has not trained on it; with `loop.judged: held_back` the slice of the Train Pool that
imitation kept out of the training of the student just trained (see `lion.core.modes`). A student that fits its
training data looks perfect on the Cache Pool, while on instructions it has not seen its weak
kinds show.

Each pair is judged twice with the answers' positions swapped; each side's score is the mean
of its two scores, d = teacher - student, and an instruction is hard when d >= tau.
"""

from __future__ import annotations

from pathlib import Path

from lion.core import atomic
from lion.core.records import Instruction, Response, SplitRecord, read_jsonl, write_jsonl
from lion.llm.position_bias import bias_stats, describe_bias
from lion.loop.answer_and_judge import EMPTY_TEACHER_ANSWER, ask_teacher, judge_answers
from lion.loop.answers import failure_record, student_answers
from lion.loop.context import Context
from lion.loop.failures import nothing_usable
from lion.loop.run_folder import RunFolder
from lion.loop.stage_results import DiscriminationResult


def split(teacher_score: float, student_score: float, tau: float) -> tuple[float, bool]:
    d = teacher_score - student_score
    return d, d >= tau


def run_discrimination(ctx: Context, k: int, items: list[Instruction], student: Path, what: str) -> DiscriminationResult:
    """Judge `student` against the teacher on `items`; `what` names their pool in messages."""
    out = ctx.run.iteration(k).discrimination
    teacher = ask_teacher(ctx, items, f"iter {k} discrimination: teacher answers")
    failed = [failure_record(it, c) for it, c in teacher.failed()]
    write_jsonl(
        out.teacher_answers,
        [Response(id=i.id, instruction=i.instruction, input=i.input, text=c.text, finish_reason=c.finish_reason)
         for i, c in teacher.answered()],
    )
    failed += [{"id": i.id, "reason": EMPTY_TEACHER_ANSWER} for i in teacher.empty()]
    usable = teacher.usable()
    pool = [it for it, _ in usable]
    s = student_answers(ctx, student, pool, f"iter {k} discrimination: student answers")
    write_jsonl(
        out.student_answers,
        [Response(id=i.id, instruction=i.instruction, input=i.input, text=a) for i, a in zip(pool, s)],
    )
    judged = judge_answers(ctx.roles.referee, "referee", ctx.cfg.referee, f"iter {k} discrimination: referee", pool,
                           [t for _, t in usable], s, both_orders=ctx.cfg.loop.both_orders).judged
    for note in judged.notes:
        ctx.say(f"  note: {note}")
    verdicts = judged.verdicts
    judgements, records = [], []
    for v in verdicts:
        judgements.append(
            {
                "id": v.id,
                "teacher_first": {"raw": v.raw_a_first, "scores": v.a_first and {"teacher": v.a_first[0], "student": v.a_first[1]}},
                "student_first": {"raw": v.raw_b_first, "scores": v.b_first and {"teacher": v.b_first[0], "student": v.b_first[1]}},
                "teacher_score": v.a_score,
                "student_score": v.b_score,
                "error": v.error,
            }
        )
        if v.error:
            failed.append({"id": v.id, "reason": v.error})  # judged, but no verdict
            continue
        d, hard = split(v.a_score, v.b_score, ctx.cfg.loop.tau)
        records.append(SplitRecord(id=v.id, teacher_score=v.a_score, student_score=v.b_score, d=d, hard=hard))
    write_jsonl(out.judgements, judgements)
    write_jsonl(out.split, records)
    write_jsonl(out.failed, failed)
    hard = sum(r.hard for r in records)
    stats = DiscriminationResult(
        judged=len(records),
        hard=hard,
        easy=len(records) - hard,
        failed=len(failed),
        mean_d=sum(r.d for r in records) / len(records) if records else None,
    )
    bias = {"mode": judged.mode, "asked_again": judged.asked_again, **bias_stats(verdicts, ctx.cfg.loop.tau)}
    atomic.write_json(out.bias, bias)
    ctx.say(describe_bias(bias, "referee"))
    stats.write(out.stats)
    if items and not records:
        raise nothing_usable("referee", f"none of the {len(items)} instructions of iteration {k}'s {what} was judged",
                             [f["reason"] for f in failed])
    return stats


def judged_pairs(run: RunFolder, k: int) -> list[tuple[SplitRecord, Response, Response]]:
    """Iteration k's verdicts, each with the teacher's and the student's answer it judged; none
    before that discrimination has run (it writes the answers before the verdicts)."""
    files = run.iteration(k).discrimination
    if not files.split.exists():
        return []
    teacher = {r.id: r for r in read_jsonl(files.teacher_answers, Response)}
    student = {r.id: r for r in read_jsonl(files.student_answers, Response)}
    return [(v, teacher[v.id], student[v.id]) for v in read_jsonl(files.split, SplitRecord)
            if v.id in teacher and v.id in student]
