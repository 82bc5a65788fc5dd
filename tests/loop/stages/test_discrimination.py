from lion.loop.stages.discrimination import split


def test_tau_boundary_is_hard():
    assert split(8.0, 7.0, 1.0) == (1.0, True)
    assert split(8.0, 7.5, 1.0) == (0.5, False)
    assert split(5.0, 9.0, 1.0) == (-4.0, False)


def test_swap_and_average_arithmetic():
    # teacher shown first: (9, 6); student shown first gives the student 8, the teacher 7
    teacher = (9 + 7) / 2
    student = (6 + 8) / 2
    assert split(teacher, student, 1.0) == (1.0, True)


def test_discrimination_stage_judges_every_instruction_in_both_orders(make_ctx):
    import json

    from lion.arena import corpus, seed_set
    from lion.core.records import Instruction, read_jsonl
    from lion.loop.stages.discrimination import SplitRecord, run_discrimination
    from lion.student.tiny import build_tiny_student

    ctx = make_ctx("student.tiny.hidden_size=32", "student.tiny.layers=1", "referee.arena.malformed_rate=0.3")
    build_tiny_student(corpus(), ctx.run.base_student, ctx.cfg.student.tiny, 0)
    pool = [Instruction.make(i, x) for i, x in seed_set(30, 2)]
    (ctx.run.iteration_dir(1)).mkdir(parents=True)
    # iteration 1's student is the untrained base here: link it where the stage looks for it
    (ctx.run.iteration_dir(1) / "student").symlink_to(ctx.run.base_student)
    stats = run_discrimination(ctx, 1, pool)
    out = ctx.run.iteration_dir(1) / "discrimination"
    split = read_jsonl(out / "split.jsonl", SplitRecord)
    judgements = [json.loads(line) for line in (out / "judgements.jsonl").read_text().splitlines()]
    assert len(judgements) == 30 and stats["judged"] + stats["failed"] == 30
    for j in judgements:
        if j["error"] is None:
            t = (j["teacher_first"]["scores"]["teacher"] + j["student_first"]["scores"]["teacher"]) / 2
            assert j["teacher_score"] == t
    # an untrained student loses to the teacher almost everywhere
    assert stats["hard"] >= 0.8 * stats["judged"]
    assert all(r.hard == (r.d >= 1.0) for r in split)
