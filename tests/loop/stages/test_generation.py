import json

import pytest

from lion.arena import seed_set
from lion.core.errors import LionError
from lion.core.records import Instruction, SplitRecord
from lion.data.similarity import rouge_l
from lion.loop.stages.generation import _quotas, output_problem, run_generation


def pool_and_split(n=120, seed=3):
    pool = [Instruction.make(i, x) for i, x in seed_set(n, seed)]
    # every third instruction hard, the rest easy
    split = [SplitRecord(id=it.id, teacher_score=9, student_score=2 if j % 3 == 0 else 9,
                         d=7 if j % 3 == 0 else 0, hard=j % 3 == 0) for j, it in enumerate(pool)]
    return pool, split


def test_method_output_filters():
    assert output_problem("Name the capital city of Chile please.", "length") == "cut off by the length limit"
    assert output_problem("Write a new Instruction about birds.", "stop") == "mentions 'instruction'"
    assert output_problem("Name a bird.", "stop") == "3 words or fewer"
    assert output_problem("- Name a bird that swims.", "stop") == "starts with punctuation"
    assert output_problem("✨ Name a bird that swims.", "stop") == "starts with a non-ASCII character"
    assert output_problem("   ", "stop") == "empty"
    assert output_problem("What is the plural of goose?", "stop") is None


def test_an_empty_side_hands_its_quota_to_the_other():
    assert _quotas(10, 0.5, 4, 6)[:2] == (5, 5)
    assert _quotas(10, 0.5, 0, 6)[:2] == (0, 10)
    assert _quotas(10, 0.5, 4, 0)[:2] == (10, 0)
    assert _quotas(10, 0.5, 0, 0)[:2] == (0, 0)


def test_generation_keeps_only_novel_well_formed_instructions(make_ctx):
    ctx = make_ctx("loop.new_per_iteration=40")
    pool, split = pool_and_split()
    new, stats = run_generation(ctx, 1, pool, split, heldout_ids=set())
    assert stats.kept == len(new) == 40
    assert stats.kept_from_hard == stats.kept_from_easy == 20
    assert stats.generated == stats.kept + sum(stats.dropped.values())
    hard_ids = {r.id for r in split if r.hard}
    for it in new:
        assert it.origin in ("from-hard", "from-easy") and it.iteration == 1
        assert (it.parent in hard_ids) == (it.origin == "from-hard")
        assert max(rouge_l(p.instruction, it.instruction) for p in pool) <= 0.7
    for a in range(len(new)):
        for b in range(a):
            assert rouge_l(new[a].instruction, new[b].instruction) <= 0.7
    # a second run of the same stage asks the generator nothing and decides the same
    asked = ctx.cache.spend()["by_role"]["generator"]["calls"]
    again, _ = run_generation(ctx, 1, pool, split, heldout_ids=set())
    assert again == new and ctx.cache.spend()["by_role"]["generator"]["calls"] == asked == stats.generated


def test_generation_gives_up_after_bounded_attempts(make_ctx):
    # a threshold nothing can pass: the stage asks no more than its budget, writes what it did,
    # and, having kept nothing, stops the run with the commonest reason
    ctx = make_ctx("loop.new_per_iteration=10", "loop.rouge_threshold=0.01", "loop.max_attempts_factor=2")
    pool, split = pool_and_split()
    with pytest.raises(LionError, match=r"^generator: none of the 20 replies of iteration 1 was kept; the commonest "
                                        r"problem, \d+ of 20: too similar to a pool instruction\.$"):
        run_generation(ctx, 1, pool, split, heldout_ids=set())
    stats = json.loads(ctx.run.iteration(1).generation.stats.read_text())
    assert stats["generated"] == 20 and stats["kept"] == 0
    assert any("of 5 after 10 attempts" in n for n in stats["notes"])


def test_the_guard_keeps_new_instructions_away_from_evaluation_questions(make_ctx, tmp_path):
    from lion.arena import heldout_set
    from lion.loop.stages.generation import guard_index

    questions = tmp_path / "eval.jsonl"
    questions.write_text("".join(json.dumps({"question_id": i, "turns": [h["instruction"]]}) + "\n"
                                 for i, h in enumerate(heldout_set(300, 5))))
    ctx = make_ctx("loop.new_per_iteration=30")
    pool, split = pool_and_split()
    new, stats = run_generation(ctx, 1, pool, split, heldout_ids=set(), guard=guard_index([str(questions)]))
    guarded = {why: n for why, n in stats.dropped.items() if why.startswith("resembles an evaluation question")}
    assert guarded, stats.dropped  # the arena writes questions like the held-out ones
    texts = [json.loads(line)["turns"][0] for line in questions.read_text().splitlines()]
    for it in new:
        assert max(rouge_l(it.instruction, q) for q in texts) <= 0.7


def test_an_even_draw_gives_every_kind_its_share_of_the_calls():
    from collections import Counter

    from lion.loop.stages.generation import ParentDraw

    parents = [Instruction.make(f"Common question {i} about birds", category="birds") for i in range(90)]
    parents += [Instruction.make(f"Rare question {i} about moss", category="moss") for i in range(10)]
    even = Counter(ParentDraw(parents, True, "s").parent(j).kind for j in range(100))
    plain = Counter(ParentDraw(parents, False, "s").parent(j).kind for j in range(100))
    assert even == {"birds": 50, "moss": 50} and plain["birds"] > 75
    assert [ParentDraw(parents, True, "s").parent(j) for j in range(5)] == [ParentDraw(parents, True, "s").parent(j) for j in range(5)]


def test_without_a_referee_parents_come_from_the_whole_cache_pool(make_ctx):
    from collections import Counter

    from lion.arena import parse

    pool = [Instruction.make(i, x, category=parse(i, x).family) for i, x in seed_set(120, 3)]
    for parents in ("random", "even"):
        ctx = make_ctx("loop.new_per_iteration=40", f"loop.parents={parents}", folder=parents)
        new, stats = run_generation(ctx, 1, pool, [], heldout_ids=set())
        assert stats.kept == 40 and stats.kept_from_hard == stats.kept_from_easy == 20
        kinds = Counter(it.kind for it in new)
        seeded = Counter(it.kind for it in pool)
        if parents == "even":  # every kind of the pool gets about the same number of calls
            assert set(kinds) == set(seeded) and max(kinds.values()) - min(kinds.values()) <= 4


def test_learnable_gives_no_children_to_a_line_the_student_failed_again(make_ctx):
    from lion.loop.stages.generation import choose_sides, stalled

    seed_a, seed_b, seed_c = (Instruction.make(f"Name the capital of land number {i}.") for i in range(3))
    child_a = Instruction.make("Name the capital of the land number one.", origin="from-hard", parent=seed_a.id, iteration=1)
    child_c = Instruction.make("Name the largest city of land number three.", origin="from-easy", parent=seed_c.id, iteration=1)
    pool = [seed_a, seed_b, seed_c, child_a, child_c]
    split = [SplitRecord(id=it.id, hard=it is not seed_c) for it in pool]  # seed_c easy, the rest hard
    hard = [it for it in pool if it is not seed_c]
    is_stalled = stalled(hard)
    # child_a was written from a hard parent and is hard again; seed_a's hard child is hard again
    assert [is_stalled(it) for it in hard] == [True, False, True, False]

    paper = make_ctx("loop.new_per_iteration=10", "loop.judged=held_back", folder="hard").cfg.loop
    learnable = make_ctx("loop.new_per_iteration=10", "loop.judged=held_back", "loop.allocation=learnable",
                         folder="learnable").cfg.loop
    sides, notes = choose_sides(paper, pool, split)
    assert [it.id for it in sides["hard"].parents] == [it.id for it in hard] and notes == []
    sides, notes = choose_sides(learnable, pool, split)
    assert [it.id for it in sides["hard"].parents] == [seed_b.id, child_c.id]
    assert [it.id for it in sides["easy"].parents] == [seed_c.id] and (sides["hard"].quota, sides["easy"].quota) == (5, 5)
    assert notes == ["2 of the 4 hard instructions have stalled (written from a hard parent, or with hard children hard "
                     "again) and get no children (loop.allocation: learnable)"]
    # every hard line stalled: the easy side takes the whole budget, and says so
    sides, notes = choose_sides(learnable, pool, [SplitRecord(id=it.id, hard=it in (seed_a, child_a))
                                                  for it in pool])
    assert (sides["hard"].quota, sides["easy"].quota) == (0, 10) and len(notes) == 2
    # every line stalled and nothing easy: rather than no parents at all, the hard side keeps them
    sides, notes = choose_sides(learnable, [seed_a, child_a], [SplitRecord(id=it.id, hard=True) for it in (seed_a, child_a)])
    assert [it.id for it in sides["hard"].parents] == [seed_a.id, child_a.id] and sides["hard"].quota == 10
    assert notes[0] == "all 2 hard instructions have stalled and none is easy, so the hard side keeps them all"
