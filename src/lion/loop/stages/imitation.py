"""Imitation: the teacher answers the Train Pool and the student is fine-tuned on the answers.

An empty answer teaches nothing but to stop at once, so it is never trained on. An answer cut
off at max_tokens is left out too unless `loop.cut_off_answers` is `train`: trained on, it
teaches the student to end in mid-sentence (docs/method.md, "Choices where the paper is silent"). Either way each is counted and
kept in `left_out.jsonl`, and an iteration in which no answer can be trained on stops the run.
With `loop.preference: dpo` a DPO step on the referee's hard verdicts follows (see
`lion.student.preference`).
"""

from __future__ import annotations

import json
import random
import shutil
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from lion.core import atomic
from lion.core.config import LoopConfig
from lion.core.records import Instruction, Response, read_jsonl, write_jsonl
from lion.llm.dispatch import Failed
from lion.loop.answer_and_judge import is_empty
from lion.loop.answers import failure_record, teacher_answers
from lion.loop.context import Context
from lion.loop.failures import nothing_usable
from lion.loop.stage_results import ImitationResult
from lion.loop.stages.discrimination import judged_pairs

if TYPE_CHECKING:  # the student's modules import torch, which only training needs
    from lion.student.preference import Pair
    from lion.student.train import Example

EMPTY = "empty"
CUT_OFF = "cut off at max_tokens"


def answer_problem(r: Response) -> str | None:
    """What is wrong with a teacher answer as a training example, or None."""
    if is_empty(r.text):
        return EMPTY
    if r.finish_reason == "length":
        return CUT_OFF
    return None


def trainable(r: Response, cut_off_answers: str) -> bool:
    problem = answer_problem(r)
    return problem is None or (problem == CUT_OFF and cut_off_answers == "train")


def _draw_held_back(loop: LoopConfig, k: int, train_pool: list[Instruction], closing: bool) -> list[Instruction]:
    """The slice of iteration k's Train Pool that the judging mode keeps out of its training, for
    the referee to judge, in pool order; drawn by the loop's seed, so it is the same on a rerun.
    The closing imitation keeps nothing out: no referee judges after it."""
    n = 0 if closing else loop.judging.held_back(loop.held_back, len(train_pool))
    chosen = {it.id for it in random.Random(f"held back {loop.seed} {k}").sample(train_pool, n)}
    return [it for it in train_pool if it.id in chosen]


def run_imitation(ctx: Context, k: int, train_pool: list[Instruction], closing: bool = False) -> ImitationResult:
    """Train iteration k's student on the teacher's answers to its Train Pool; `closing`: the
    imitation after the last generation, which holds nothing back."""
    out = ctx.run.iteration(k).imitation
    policy = ctx.cfg.loop.cut_off_answers
    completions = teacher_answers(ctx, train_pool, f"iter {k} imitation: teacher answers")
    responses, failed = [], []
    for it, c in zip(train_pool, completions):
        if isinstance(c, Failed):
            failed.append(failure_record(it, c))
        else:
            responses.append(
                Response(id=it.id, instruction=it.instruction, input=it.input, text=c.text, finish_reason=c.finish_reason)
            )
    problems = Counter(p for r in responses if (p := answer_problem(r)))
    left_out = [{**r.model_dump(), "reason": answer_problem(r)} for r in responses if not trainable(r, policy)]
    write_jsonl(out.teacher_answers, responses)
    write_jsonl(out.failed, failed)
    write_jsonl(out.left_out, left_out)
    if failed:
        ctx.say(f"  {len(failed)} instructions left out: the teacher's endpoint rejected them (see {out.failed})")
    if problems:
        kept = " (trained on)" if policy == "train" and problems[CUT_OFF] else ""
        ctx.say(f"  teacher answers: {problems[EMPTY]} empty, {problems[CUT_OFF]} {CUT_OFF}{kept}; see {out.left_out}")
    usable = [r for r in responses if trainable(r, policy)]
    if train_pool and not usable:
        _stop(ctx, k, len(train_pool), [f["reason"] for f in failed] + [r["reason"] for r in left_out])

    # `continue` trains the previous student on this Train Pool; `cumulative` retrains the base
    # model on every Train Pool so far (docs/method.md says why `cumulative` is the default). A
    # slice held back to be judged (loop.judged: held_back) joins training one iteration late.
    slice_ = _draw_held_back(ctx.cfg.loop, k, train_pool, closing)
    if ctx.cfg.loop.judging.holds_back:
        write_jsonl(out.held_back, slice_)
    if ctx.cfg.student.strategy == "continue":
        start = ctx.student_dir(k - 1)
        late = {it.id for it in held_back(ctx, k - 1)}
        earlier = [r for r in _answers(ctx, k - 1) if r.id in late]
    else:
        start = ctx.student_dir(0)
        earlier = [r for j in range(1, k) for r in _answers(ctx, j)]
    kept_out = {it.id for it in slice_}
    data = [r for r in earlier if trainable(r, policy)] + [r for r in usable if r.id not in kept_out]
    examples = [(r.instruction, r.input, r.text) for r in data]
    counts = {"start": str(start), "failed": len(failed), "empty": problems[EMPTY], "cut_off": problems[CUT_OFF],
              "held_back": len(kept_out)}
    if not examples:
        ctx.say("  the Train Pool is empty: the student stays as it was")
        staging = out.staging
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(start, staging)
        atomic.replace_dir(staging, ctx.student_dir(k))
        result = ImitationResult(examples=0, **counts)
        result.write(out.train_stats)
        return result

    from lion.student.train import train_student

    ctx.say(f"  training the student on {len(examples)} examples (from {start.name})")
    pairs = preference_pairs(ctx, k) if ctx.cfg.loop.preference_step.trains_on_pairs else []
    if pairs:
        stats = _imitate_then_dpo(ctx, k, start, examples, pairs)
    else:
        stats = train_student(start, examples, ctx.student_dir(k), out.work, ctx.cfg.student, ctx.threads)
    result = ImitationResult(examples=len(examples), **counts, **stats)
    result.write(out.train_stats)
    return result


def preference_pairs(ctx: Context, k: int) -> list[Pair]:
    """The hard verdicts judged before iteration k's imitation, as (instruction, input, the
    teacher's answer, the student's): all of them for a student retrained from the base model
    (cumulative), the latest iteration's for one that goes on from the last student (continue)."""
    last = k if ctx.cfg.loop.judging.before_imitation else k - 1  # discrimination may come first
    first = 1 if ctx.cfg.student.strategy == "cumulative" else last
    return [(t.instruction, t.input, t.text, s.text) for j in range(max(first, 1), last + 1)
            for v, t, s in judged_pairs(ctx.run, j) if v.hard]


def _imitate_then_dpo(ctx: Context, k: int, start: Path, examples: list[Example], pairs: list[Pair]) -> dict:
    """Imitation into a work folder, kept until the DPO step from it has put the student in
    place, so a kill during DPO does not train imitation again."""
    from lion.student.preference import train_preference
    from lion.student.train import train_student

    out = ctx.run.iteration(k).imitation
    imitated = out.work / "imitated"
    done = imitated / "lion_student.json"
    if not done.exists():
        train_student(start, examples, imitated, out.work, ctx.cfg.student, ctx.threads)
    stats = {key: v for key, v in json.loads(done.read_text(encoding="utf-8")).items() if key != "student_uid"}
    ctx.say(f"  DPO on {len(pairs)} pairs the referee judged hard, the teacher's answer chosen over the student's")
    dpo = train_preference(imitated, pairs, ctx.student_dir(k), out.work / "dpo", ctx.cfg.student, ctx.threads)
    shutil.rmtree(imitated)
    return {**stats, "dpo": {"pairs": len(pairs), **dpo}}


def _answers(ctx: Context, j: int) -> list[Response]:
    """The teacher's answers to iteration j's Train Pool (none before the first iteration)."""
    return read_jsonl(ctx.run.iteration(j).imitation.teacher_answers, Response) if j > 0 else []


def held_back(ctx: Context, j: int) -> list[Instruction]:
    """The slice iteration j kept out of its training; none before the first iteration or where
    the judging mode holds nothing back."""
    return read_jsonl(ctx.run.iteration(j).imitation.held_back, Instruction) if j > 0 and ctx.cfg.loop.judging.holds_back else []


def _stop(ctx: Context, k: int, asked: int, reasons: list[str]) -> None:
    hints = {
        CUT_OFF: f" (max_tokens is {ctx.cfg.teacher.decoding.max_tokens}; a new run with a larger "
                 "teacher.decoding.max_tokens lets the answers end)",
        EMPTY: " (the model returned no text; a reasoning model may spend every token on thinking)",
    }
    raise nothing_usable("teacher", f"none of the {asked} answers to iteration {k}'s Train Pool can be trained on",
                         reasons, hints)
