"""The one way from answers to verdicts: discrimination and the held-out evaluation leave out
the same items, for the same reasons, and judge the rest."""

import json

from test_discrimination import stage_context

from lion.core.chat import CallError, Completion
from lion.core.records import Instruction, Response, read_jsonl
from lion.llm.dispatch import Failed, Role
from lion.loop.answer_and_judge import EMPTY_TEACHER_ANSWER, LeftOut, TeacherAnswers, is_empty, judge_answers
from lion.loop.stages.discrimination import run_discrimination
from lion.loop.stages.heldout import HeldoutItem, evaluate_heldout


class Patchy:
    """The arena teacher, but its answer to the i-th question is empty (i % 3 == 0) or rejected
    by the server (i % 3 == 1)."""

    name = "patchy-teacher"

    def __init__(self, teacher, pool: list[Instruction]):
        self.teacher = teacher
        self.shape = {p.instruction: i % 3 for i, p in enumerate(pool)}

    async def complete(self, messages, decoding, sample=0):
        prompt = messages[-1]["content"]
        shape = next(s for text, s in self.shape.items() if text in prompt)
        if shape == 1:
            raise CallError("HTTP 400: prompt too long", retryable=False)
        out = await self.teacher.complete(messages, decoding, sample)
        return out if shape == 2 else type(out)("", "stop", out.usage)

    async def aclose(self) -> None:
        pass


def patchy_context(make_ctx, n: int):
    ctx, pool = stage_context(make_ctx, n)
    t = ctx.roles.teacher
    ctx.roles.teacher = Role("teacher", Patchy(t.model, pool), t.decoding, t.cache, "test://patchy", loop=t.loop)
    return ctx, pool


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_discrimination_leaves_out_failed_and_empty_teacher_answers_and_judges_the_rest(make_ctx):
    ctx, pool = patchy_context(make_ctx, 9)
    stats = run_discrimination(ctx, 1, pool, ctx.student_dir(1), "Cache Pool")
    out = ctx.run.iteration(1).discrimination
    ids = [[p.id for i, p in enumerate(pool) if i % 3 == shape] for shape in range(3)]
    empty, rejected, whole = ids
    assert (stats.judged, stats.failed) == (3, 6)
    # the empty answers are kept as answered, but only the whole ones are given to the student and judged
    assert [r.id for r in read_jsonl(out.teacher_answers, Response)] == sorted(empty + whole, key=[p.id for p in pool].index)
    assert [r.id for r in read_jsonl(out.student_answers, Response)] == whole
    assert [j["id"] for j in lines(out.judgements)] == whole
    failed = lines(out.failed)
    assert [f["id"] for f in failed] == rejected + empty
    assert all(f["reason"] == "HTTP 400: prompt too long" and f["attempts"] == 1 for f in failed[:3])
    assert failed[3:] == [{"id": i, "reason": "the teacher's answer is empty"} for i in empty]


def test_the_heldout_evaluation_leaves_out_failed_and_empty_teacher_answers_with_their_reason(make_ctx):
    ctx, pool = patchy_context(make_ctx, 9)
    items = [HeldoutItem(id=p.id, instruction=p.instruction, input=p.input, references=["x"], category="c") for p in pool]
    result = evaluate_heldout(ctx, ctx.student_dir(1), items, "iter 1", ctx.run.before)
    rows = lines(ctx.run.before.items)
    assert [r["id"] for r in rows] == [p.id for p in pool]
    assert all(r["student"] is not None for r in rows)  # every question is answered, for exact match
    assert [r["error"] for r in rows[:2]] == ["the teacher's answer is empty", "no teacher answer: HTTP 400: prompt too long"]
    assert [r["teacher"] for r in rows[:2]] == ["", None]
    assert all(r["error"] is None and r["teacher_score"] is not None for r in rows[2::3])
    assert (result.questions, result.failed_judgements, sum(result.wins_ties_losses)) == (9, 6, 3)


def test_an_answer_of_blanks_is_empty_and_no_reference():
    assert is_empty("") and is_empty(" \n\t") and not is_empty(" 0 ")
    items = [Instruction.make(f"q{i}") for i in range(3)]
    teacher = TeacherAnswers(items, [Completion("x"), Completion("  \n"), Failed("HTTP 400: too long", 1)])
    assert teacher.reference() == ["x", LeftOut(EMPTY_TEACHER_ANSWER), LeftOut("no teacher answer: HTTP 400: too long")]
    assert [it for it, _ in teacher.answered()] == items[:2] and teacher.empty() == [items[1]]
    assert teacher.usable() == [(items[0], "x")] and teacher.failed() == [(items[2], teacher.results[2])]


def test_an_item_a_side_has_no_answer_to_is_left_out_with_the_candidates_reason_first(make_ctx):
    ctx = make_ctx()
    items = [Instruction.make(f"q{i}") for i in range(3)]
    judging = judge_answers(ctx.roles.judge, "judge", ctx.cfg.judge, "judge", items,
                            [LeftOut("no reference"), LeftOut("no reference"), "a"],
                            [LeftOut("no candidate"), "b", LeftOut("no candidate")])
    assert judging.left_out == ["no candidate", "no reference", "no candidate"]
    assert judging.verdicts == [None] * 3 and judging.judged.verdicts == []  # nothing was asked
