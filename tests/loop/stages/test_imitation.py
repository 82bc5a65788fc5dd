import json
import math

import pytest

from lion.arena import corpus, seed_set
from lion.core.chat import Completion, Usage
from lion.core.errors import LionError
from lion.core.records import Instruction, Response, SplitRecord, read_jsonl
from lion.llm.dispatch import Role
from lion.loop.stages.imitation import run_imitation
from lion.student.tiny import build_tiny_student

TINY = ["student.tiny.hidden_size=32", "student.tiny.layers=1", "student.train.epochs=3",
        "student.train.batch_size=8", "student.train.learning_rate=3e-3"]


def make_base(ctx):
    build_tiny_student(corpus(), ctx.run.base_student, ctx.cfg.student.tiny, 0)


def test_imitation_trains_on_teacher_answers(make_ctx):
    ctx = make_ctx(*TINY)
    make_base(ctx)
    pool = [Instruction.make(i, x) for i, x in seed_set(24, 1)]
    stats = run_imitation(ctx, 1, pool)
    answers = read_jsonl(ctx.run.iteration(1).imitation.teacher_answers, Response)
    assert [a.id for a in answers] == [p.id for p in pool] and all(a.text for a in answers)
    assert stats.examples == 24 and stats.last_loss < stats.first_loss
    assert (ctx.student_dir(1) / "model.safetensors").exists()
    assert json.loads(ctx.run.iteration(1).imitation.train_stats.read_text())["steps"] == stats.steps


def test_strategies_start_from_the_right_student(make_ctx):
    pools = [[Instruction.make(i, x) for i, x in seed_set(16, s)] for s in (1, 2)]
    for strategy, start, examples in (("continue", "iter-01", 16), ("cumulative", "student-base", 32)):
        ctx = make_ctx(*TINY, f"student.strategy={strategy}", folder=strategy)
        make_base(ctx)
        run_imitation(ctx, 1, pools[0])
        stats = run_imitation(ctx, 2, pools[1])
        assert stats.examples == examples
        assert start in stats.start


@pytest.mark.parametrize(("strategy", "examples"), [("continue", (12, 12 + 4, 16 + 4)),
                                                    ("cumulative", (12, 16 + 12, 16 + 16 + 16))])
def test_a_held_back_slice_is_kept_out_of_its_iteration_and_trained_on_in_the_next(make_ctx, strategy, examples):
    """... and the closing imitation holds nothing back, so the final student has learned from every answer."""
    pools = [[Instruction.make(i, x) for i, x in seed_set(16, s)] for s in (1, 2, 3)]
    ctx = make_ctx(*TINY, f"student.strategy={strategy}", "loop.judged=held_back", "loop.held_back=0.25")
    make_base(ctx)
    got = [run_imitation(ctx, k, pool) for k, pool in ((1, pools[0]), (2, pools[1]))]
    got.append(run_imitation(ctx, 3, pools[2], closing=True))
    assert tuple(g.examples for g in got) == examples and [g.held_back for g in got] == [4, 4, 0]
    assert read_jsonl(ctx.run.iteration(3).imitation.held_back, Instruction) == []
    for k, pool in ((1, pools[0]), (2, pools[1])):
        slice_ = read_jsonl(ctx.run.iteration(k).imitation.held_back, Instruction)
        assert len(slice_) == 4 and {i.id for i in slice_} < {i.id for i in pool}
        answered = {a.id for a in read_jsonl(ctx.run.iteration(k).imitation.teacher_answers, Response)}
        assert answered == {i.id for i in pool}  # the teacher answers the whole pool, slice included


def test_an_empty_train_pool_keeps_the_student(make_ctx):
    ctx = make_ctx(*TINY)
    make_base(ctx)
    stats = run_imitation(ctx, 1, [])
    assert stats.examples == 0
    assert (ctx.student_dir(1) / "model.safetensors").read_bytes() == (ctx.student_dir(0) / "model.safetensors").read_bytes()


class Scripted:
    """A teacher whose answer to the i-th seed is empty (i % 3 == 0), cut off at max_tokens
    (i % 3 == 1) or whole: the shapes a real server gives at temperature 0 or a low limit."""

    name = "scripted-teacher"

    def __init__(self, pool: list[Instruction]):
        self.shape = {p.instruction: i % 3 for i, p in enumerate(pool)}

    async def complete(self, messages, decoding, sample=0) -> Completion:
        prompt = messages[-1]["content"]
        shape = next(s for text, s in self.shape.items() if text in prompt)
        text, reason = [("", "length"), ("The answer starts and then", "length"), ("It is a whole answer.", "stop")][shape]
        return Completion(text, reason, Usage(10, 5))

    async def check(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


def scripted_context(make_ctx, n: int, *overrides: str, folder: str = "run"):
    ctx = make_ctx(*TINY, *overrides, folder=folder)
    make_base(ctx)
    pool = [Instruction.make(i, x) for i, x in seed_set(n, 1)]
    r = ctx.roles.teacher
    ctx.roles.teacher = Role("teacher", Scripted(pool), r.decoding, r.cache, "test://scripted", loop=r.loop)
    return ctx, pool


@pytest.mark.parametrize(("policy", "examples"), [("drop", 3), ("train", 6)])
def test_empty_answers_are_never_trained_on_and_cut_off_ones_as_the_setting_says(make_ctx, policy, examples):
    ctx, pool = scripted_context(make_ctx, 9, f"loop.cut_off_answers={policy}", folder=policy)
    stats = run_imitation(ctx, 1, pool)
    assert (stats.examples, stats.empty, stats.cut_off) == (examples, 3, 3)
    left_out = [json.loads(line) for line in ctx.run.iteration(1).imitation.left_out.read_text().splitlines()]
    assert sorted(r["reason"] for r in left_out) == sorted(["empty"] * 3 + ["cut off at max_tokens"] * (3 if policy == "drop" else 0))
    assert all(r["text"] == "" for r in left_out if r["reason"] == "empty")
    # the next cumulative iteration trains on the same selection of iteration 1's answers
    again = run_imitation(ctx, 2, [])
    assert again.examples == examples


def test_an_iteration_whose_every_answer_is_empty_stops_the_run(make_ctx):
    ctx, pool = scripted_context(make_ctx, 9)
    empty = [p for i, p in enumerate(pool) if i % 3 == 0]
    with pytest.raises(LionError, match=r"^teacher: none of the 3 answers to iteration 1's Train Pool can be trained on; "
                                        r"the commonest problem, 3 of 3: empty \(the model returned no text"):
        run_imitation(ctx, 1, empty)
    assert len(ctx.run.iteration(1).imitation.left_out.read_text().splitlines()) == 3  # written before it stopped


def test_with_dpo_the_referees_hard_pairs_train_the_imitated_student_and_a_kill_during_dpo_keeps_imitation(
        make_ctx, monkeypatch, capsys):
    from lion.loop.stages.discrimination import run_discrimination
    from lion.student import preference, train

    ctx = make_ctx(*TINY, "loop.preference=dpo", "student.dpo.learning_rate=1e-3", "student.dpo.batch_size=4")
    make_base(ctx)
    pools = [[Instruction.make(i, x) for i, x in seed_set(16, s)] for s in (1, 2)]
    assert run_imitation(ctx, 1, pools[0]).dpo is None  # nothing judged yet: imitation only
    run_discrimination(ctx, 1, pools[0], ctx.student_dir(1), "Cache Pool")
    hard = [v for v in read_jsonl(ctx.run.iteration(1).discrimination.split, SplitRecord) if v.hard]
    assert hard  # the base student's answers lose to the teacher's

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(preference, "run_trainer", killed)
        with pytest.raises(KeyboardInterrupt):
            run_imitation(ctx, 2, pools[1])
    imitated = ctx.run.iteration(2).imitation.work / "imitated"
    assert (imitated / "lion_student.json").exists() and not ctx.student_dir(2).exists()

    imitations = []
    monkeypatch.setattr(train, "train_student", lambda *a, **k: imitations.append(a))
    stats = run_imitation(ctx, 2, pools[1])
    assert imitations == [] and not imitated.exists()  # resumed from the imitated student, then cleared
    assert stats.examples == 32 and stats.dpo.pairs == len(hard)
    # the first step's loss is ln 2 exactly when the reference is the imitated student itself
    assert stats.dpo.first_loss == pytest.approx(math.log(2), abs=1e-3)
    assert stats.dpo.last_loss < stats.dpo.first_loss
    marked = json.loads((ctx.student_dir(2) / "lion_student.json").read_text())
    assert marked["steps"] == stats.dpo.steps  # the student in place is the DPO step's
    assert "'loss'" not in capsys.readouterr().out  # neither trainer prints its log lines
