"""Teacher and student answers to a list of instructions, both through the cache.

The teacher's answer to an instruction is the same request in every stage and iteration, so
it is paid for once per run. Student answers are keyed by the student's identity, and batches
are planned over the whole list so a resumed stage recomputes a batch exactly as before.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from lion.core.chat import Completion, Message
from lion.core.config import StudentConfig
from lion.core.progress import bar
from lion.core.prompts import render
from lion.core.records import Instruction
from lion.llm.cache import ResponseCache, request_key
from lion.llm.dispatch import Call, Failed, Result
from lion.loop.context import Context

if TYPE_CHECKING:
    from lion.student.generate import StudentGenerator


def teacher_messages(it: Instruction) -> list[Message]:
    return [{"role": "user", "content": render("teacher", instruction=it.instruction, input=it.input)}]


def teacher_answers(ctx: Context, items: list[Instruction], label: str) -> list[Result]:
    """The teacher's answer to each item, or `Failed` where the endpoint rejected the request."""
    return ctx.roles.teacher.run([Call(teacher_messages(it)) for it in items], label)


def failure_record(it: Instruction, failed: Failed) -> dict:
    return {"id": it.id, "instruction": it.instruction, "input": it.input, "reason": failed.reason, "attempts": failed.attempts}


def student_uid(model_dir: Path) -> str:
    marker = Path(model_dir) / "lion_student.json"
    if marker.exists():
        return json.loads(marker.read_text(encoding="utf-8"))["student_uid"]
    return f"path:{Path(model_dir).resolve()}"


def student_answers(ctx: Context, model_dir: Path, items: list[Instruction], label: str) -> list[str]:
    return generate_answers(ctx.cache, model_dir, items, ctx.cfg.student, ctx.threads, label)


def generate_answers(
    cache: ResponseCache, model_dir: Path, items: list[Instruction], student: StudentConfig, threads: int, label: str
) -> list[str]:
    """A student's greedy answers, each cached under the student's identity before it is used."""
    from lion.student.generate import student_generator

    gen = student_generator(model_dir, student.generate, student.prompt_format, threads)
    return answer_prompts(cache, gen, model_dir, [gen.prompt(it.instruction, it.input) for it in items], label)


def answer_prompts(cache: ResponseCache, gen: StudentGenerator, model_dir: Path, prompts: list[str], label: str) -> list[str]:
    """The generator's answers to ready prompts, through the cache."""
    from lion.student.generate import engine_for

    uid = student_uid(model_dir)
    generate = {**gen.cfg.model_dump(), "engine": engine_for(gen.cfg)}  # engines may differ in the last bit
    keys = [request_key({"student": uid, "prompt": p, "generate": generate}) for p in prompts]
    answers: list[str | None] = [None] * len(prompts)
    for i, key in enumerate(keys):
        hit = cache.get(key)
        if hit is not None:
            answers[i] = hit.text
    with bar(label, len(prompts)) as advance:
        advance(sum(a is not None for a in answers))
        for batch in gen.plan(prompts):
            if all(answers[i] is not None for i in batch):
                continue
            outs = gen.run_batch([prompts[i] for i in batch])
            for i, text in zip(batch, outs):
                cache.put(keys[i], f"student:{uid}", Completion(text))
                if answers[i] is None:
                    advance(1)
                answers[i] = text
    return [a if a is not None else "" for a in answers]
