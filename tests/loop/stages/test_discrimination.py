import json

import pytest

from lion.arena import corpus, seed_set
from lion.arena.chat import _read_comparison
from lion.core.chat import Completion, Usage
from lion.core.prompts import defuse
from lion.core.records import Instruction, SplitRecord, read_jsonl
from lion.llm.dispatch import Role
from lion.loop.answers import teacher_answers
from lion.loop.signals import referee_gap
from lion.loop.stages.discrimination import run_discrimination
from lion.student.tiny import build_tiny_student

TINY = ["student.tiny.hidden_size=32", "student.tiny.layers=1"]


def test_tau_boundary_is_hard():
    assert referee_gap(8.0, 7.0, 1.0) == (1.0, True)
    assert referee_gap(8.0, 7.5, 1.0) == (0.5, False)
    assert referee_gap(5.0, 9.0, 1.0) == (-4.0, False)


def stage_context(make_ctx, n, *overrides):
    """A context whose iteration 1 student is the untrained tiny base, and a pool of n seeds."""
    ctx = make_ctx(*TINY, *overrides)
    build_tiny_student(corpus(), ctx.run.base_student, ctx.cfg.student.tiny, 0)
    ctx.run.iteration(1).root.mkdir(parents=True)
    ctx.run.iteration(1).student.symlink_to(ctx.run.base_student)
    return ctx, [Instruction.make(i, x) for i, x in seed_set(n, 2)]


class PositionBiased:
    """A referee that knows each answer's merit and adds 1 to whichever answer it sees first and
    takes 1 from the second: a constant position bias that judging in both orders must cancel.

    The teacher's answers all merit 8; the student's answer to the i-th question merits 5, 7 or
    8 as i % 3 is 0, 1 or 2."""

    name = "position-biased"

    def __init__(self, teacher_texts: list[str]):
        self.index = {defuse("referee", t).strip(): i for i, t in enumerate(teacher_texts)}

    def merits(self, first: str, second: str) -> tuple[float, float]:
        teacher = first if first in self.index else second
        student = 5.0, 7.0, 8.0
        merit = {teacher: 8.0, (second if teacher == first else first): student[self.index[teacher] % 3]}
        return merit[first], merit[second]

    async def complete(self, messages, decoding, sample=0) -> Completion:
        _, first, second = _read_comparison(messages[-1]["content"])
        m1, m2 = self.merits(first, second)
        s1, s2 = m1 + 1, m2 - 1
        if decoding.json_schema:
            text = json.dumps({"assistant_1_score": s1, "assistant_2_score": s2})
        else:
            text = f"Assistant 1 score: {s1:g}\nAssistant 2 score: {s2:g}"
        return Completion(text, "stop", Usage(10, 10))

    async def aclose(self) -> None:
        pass


def test_both_orders_cancel_a_position_bias_into_hand_computed_scores(make_ctx):
    ctx, pool = stage_context(make_ctx, 12, "loop.tau=1")
    teacher = [c.text for c in teacher_answers(ctx, pool, "teacher")]  # cached: the stage asks nothing again
    assert len(set(teacher)) == 12  # each answer names its question
    r = ctx.roles.referee
    ctx.roles.referee = Role("referee", PositionBiased(teacher), r.decoding, r.cache, "test://biased", loop=r.loop)
    stats = run_discrimination(ctx, 1, pool, ctx.student_dir(1), "Cache Pool")
    out = ctx.run.iteration(1).discrimination

    # shown first the teacher gets 9 and the student merit - 1; shown second the teacher gets 7
    # and the student merit + 1: the means are the merits, 8 and 5 / 7 / 8, so d is 3 / 1 / 0
    want = [(8.0, s, 8.0 - s, 8.0 - s >= 1) for s in [5.0, 7.0, 8.0] * 4]
    assert [(r.teacher_score, r.student_score, r.d, r.hard) for r in read_jsonl(out.split, SplitRecord)] == want
    raw = [json.loads(line) for line in out.judgements.read_text().splitlines()]
    assert [j["teacher_first"]["scores"] for j in raw[:3]] == [
        {"teacher": 9.0, "student": 4.0}, {"teacher": 9.0, "student": 6.0}, {"teacher": 9.0, "student": 7.0}]
    assert [j["student_first"]["scores"] for j in raw[:3]] == [
        {"teacher": 7.0, "student": 6.0}, {"teacher": 7.0, "student": 8.0}, {"teacher": 7.0, "student": 9.0}]
    assert stats.model_dump() == {"judged": 12, "hard": 8, "easy": 4, "failed": 0, "mean_d": pytest.approx(4 / 3), "mean_ifd": None}

    bias = json.loads(out.bias.read_text())
    # merits average 176 / 24; the first place adds 1, the second takes 1
    assert (bias["position_1_mean"], bias["position_2_mean"]) == (8.333, 6.333)
    assert bias["flip_rate"] == 0.6667  # the student wins when shown first unless it merits 5
    assert bias["hard_share"] == {"both_orders": 0.6667, "a_first_only": 1.0, "b_first_only": 0.3333}
    assert bias["d"] == {"mean": 1.333, "median": 1.0, "histogram": {"0": 4, "1": 4, "3": 4}}


def test_discrimination_stage_judges_every_instruction_in_both_orders(make_ctx):
    ctx, pool = stage_context(make_ctx, 30, "referee.arena.malformed_rate=0.3")
    stats = run_discrimination(ctx, 1, pool, ctx.student_dir(1), "Cache Pool")
    out = ctx.run.iteration(1).discrimination
    records = read_jsonl(out.split, SplitRecord)
    judgements = [json.loads(line) for line in out.judgements.read_text().splitlines()]
    assert len(judgements) == 30 and stats.judged + stats.failed == 30
    # a malformed reply is asked again, so every pair ends with scores from both orders
    assert json.loads(out.bias.read_text())["asked_again"] > 0
    assert [j["id"] for j in judgements if j["error"] is None] == [r.id for r in records]
    assert all(j["teacher_first"]["scores"] and j["student_first"]["scores"] for j in judgements if j["error"] is None)
    # an untrained student loses to the teacher almost everywhere
    assert stats.hard >= 0.8 * stats.judged
