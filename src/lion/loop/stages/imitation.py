"""Imitation: the teacher answers the Train Pool and the student is fine-tuned on the answers."""

from __future__ import annotations

import shutil

from lion.core import atomic
from lion.core.records import Instruction, Response, read_jsonl, write_jsonl
from lion.llm.dispatch import Failed
from lion.loop.answers import failure_record, teacher_answers
from lion.loop.context import Context


def run_imitation(ctx: Context, k: int, train_pool: list[Instruction]) -> dict:
    out = ctx.run.iteration(k).imitation
    completions = teacher_answers(ctx, train_pool, f"iter {k} imitation: teacher answers")
    responses, failed = [], []
    for it, c in zip(train_pool, completions):
        if isinstance(c, Failed):
            failed.append(failure_record(it, c))
        else:
            responses.append(
                Response(id=it.id, instruction=it.instruction, input=it.input, text=c.text, finish_reason=c.finish_reason)
            )
    write_jsonl(out.teacher_answers, responses)
    write_jsonl(out.failed, failed)
    if failed:
        ctx.say(f"  {len(failed)} instructions left out: the teacher's endpoint rejected them (see {out.failed})")

    # `continue` trains the previous student on this Train Pool; `cumulative` retrains the base
    # model on every Train Pool so far (see the README for why `cumulative` is the default).
    if ctx.cfg.student.strategy == "continue":
        start, data = ctx.student_dir(k - 1), responses
    else:
        start = ctx.student_dir(0)
        data = [r for j in range(1, k) for r in read_jsonl(ctx.run.iteration(j).imitation.teacher_answers, Response)] + responses
    examples = [(r.instruction, r.input, r.text) for r in data]
    if not examples:
        ctx.say("  the Train Pool is empty: the student stays as it was")
        staging = out.staging
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(start, staging)
        atomic.replace_dir(staging, ctx.student_dir(k))
        stats = {"examples": 0, "start": str(start), "steps": 0, "failed": len(failed)}
        atomic.write_json(out.train_stats, stats)
        return stats

    from lion.student.train import train_student

    ctx.say(f"  training the student on {len(examples)} examples (from {start.name})")
    stats = train_student(start, examples, ctx.student_dir(k), out.work, ctx.cfg.student, ctx.threads)
    stats = {"examples": len(examples), "start": str(start), "failed": len(failed), **stats}
    atomic.write_json(out.train_stats, stats)
    return stats
