import json

from lion.arena import corpus, seed_set
from lion.core.records import Instruction, Response, read_jsonl
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
    assert stats["examples"] == 24 and stats["last_loss"] < stats["first_loss"]
    assert (ctx.student_dir(1) / "model.safetensors").exists()
    assert json.loads(ctx.run.iteration(1).imitation.train_stats.read_text())["steps"] == stats["steps"]


def test_strategies_start_from_the_right_student(make_ctx):
    pools = [[Instruction.make(i, x) for i, x in seed_set(16, s)] for s in (1, 2)]
    for strategy, start, examples in (("continue", "iter-01", 16), ("cumulative", "student-base", 32)):
        ctx = make_ctx(*TINY, f"student.strategy={strategy}", folder=strategy)
        make_base(ctx)
        run_imitation(ctx, 1, pools[0])
        stats = run_imitation(ctx, 2, pools[1])
        assert stats["examples"] == examples
        assert start in stats["start"]


def test_an_empty_train_pool_keeps_the_student(make_ctx):
    ctx = make_ctx(*TINY)
    make_base(ctx)
    stats = run_imitation(ctx, 1, [])
    assert stats["examples"] == 0
    assert (ctx.student_dir(1) / "model.safetensors").read_bytes() == (ctx.student_dir(0) / "model.safetensors").read_bytes()
