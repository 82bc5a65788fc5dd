"""Discrimination: the teacher answers a pool, and a hardness signal splits it into hard and easy.

The pool is the Cache Pool, judged with the student just trained on it (the paper); with
`loop.judged: unseen` the new Train Pool, judged with the student of the iteration before,
which has not trained on it; with `loop.judged: held_back` the slice of the Train Pool that
imitation kept out of the training of the student just trained (see `lion.core.modes`). A student that fits its
training data looks perfect on the Cache Pool, while on instructions it has not seen its weak
kinds show.

With the paper's signal (`loop.signal: referee`) the student answers too, each pair is judged
twice with the answers' positions swapped, each side's score is the mean of its two scores,
d = teacher - student, and an instruction is hard when d >= tau. With `student_loss` the
student scores the teacher's answers instead, and no LLM is called (see `lion.loop.signals`).
"""

from __future__ import annotations

from pathlib import Path

from lion.core.records import Instruction, Response, SplitRecord, read_jsonl, write_jsonl
from lion.loop.answer_and_judge import EMPTY_TEACHER_ANSWER, ask_teacher
from lion.loop.answers import failure_record
from lion.loop.context import Context
from lion.loop.failures import nothing_usable
from lion.loop.run_folder import RunFolder
from lion.loop.signals import SPLITTERS
from lion.loop.stage_results import DiscriminationResult


def run_discrimination(ctx: Context, k: int, items: list[Instruction], student: Path, what: str) -> DiscriminationResult:
    """Split `items` by `student` and loop.signal; `what` names their pool in messages."""
    out = ctx.run.iteration(k).discrimination
    teacher = ask_teacher(ctx, items, f"iter {k} discrimination: teacher answers")
    failed = [failure_record(it, c) for it, c in teacher.failed()]
    write_jsonl(
        out.teacher_answers,
        [Response(id=i.id, instruction=i.instruction, input=i.input, text=c.text, finish_reason=c.finish_reason)
         for i, c in teacher.answered()],
    )
    failed += [{"id": i.id, "reason": EMPTY_TEACHER_ANSWER} for i in teacher.empty()]
    split = SPLITTERS[ctx.cfg.loop.hardness.name](ctx, k, teacher.usable(), student)
    records = split.records
    failed += split.failed
    write_jsonl(out.split, records)
    write_jsonl(out.failed, failed)
    hard = sum(r.hard for r in records)
    stats = DiscriminationResult(
        judged=len(records),
        hard=hard,
        easy=len(records) - hard,
        failed=len(failed),
        mean_d=_mean([r.d for r in records]),
        mean_ifd=_mean([r.ifd for r in records]),
    )
    stats.write(out.stats)
    if items and not records:
        raise nothing_usable("referee" if ctx.cfg.loop.hardness.calls_referee else "teacher",
                             f"none of the {len(items)} instructions of iteration {k}'s {what} was judged",
                             [f["reason"] for f in failed])
    return stats


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def judged_pairs(run: RunFolder, k: int) -> list[tuple[SplitRecord, Response, Response]]:
    """Iteration k's verdicts, each with the teacher's and the student's answer it judged; none
    before that discrimination has run (it writes the answers before the verdicts)."""
    files = run.iteration(k).discrimination
    if not files.split.exists() or not files.student_answers.exists():  # a signal that compares no answers
        return []
    teacher = {r.id: r for r in read_jsonl(files.teacher_answers, Response)}
    student = {r.id: r for r in read_jsonl(files.student_answers, Response)}
    return [(v, teacher[v.id], student[v.id]) for v in read_jsonl(files.split, SplitRecord)
            if v.id in teacher and v.id in student]
