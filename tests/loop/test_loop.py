import json
from pathlib import Path

import pytest

from lion.core import atomic
from lion.core.config import load_config
from lion.core.errors import LionError
from lion.core.records import Instruction, read_jsonl
from lion.llm.cache import ResponseCache
from lion.llm.dispatch import BudgetExceeded
from lion.loop.runner import run_loop
from paid_calls import paid_per_step
from small_run import SMALL

CONFIG = Path(__file__).parents[2] / "configs" / "arena.yaml"


def test_small_loop_end_to_end(tmp_path):
    out = tmp_path / "run"
    lines: list[str] = []
    summary = run_loop(load_config(CONFIG, SMALL), out, lines.append)

    assert summary.before.exact_match is not None and summary.before.relative_score is not None
    *its, closing = summary.iterations
    assert [it.iteration for it in its] == [1, 2] and (closing.iteration, closing.closing) == (3, True)
    for it in its:
        assert None not in (it.train_pool, it.cache_pool, it.hard, it.easy, it.generated, it.kept)
        assert it.hard + it.easy + it.failed_judgements == it.cache_pool
        assert it.heldout.exact_match is not None and it.heldout.relative_score is not None

    seeds = read_jsonl(out / "pools" / "00" / "cache.jsonl", Instruction)
    heldout_ids = {line.split('"id": "')[1][:16] for line in (out / "heldout.jsonl").read_text().splitlines()}
    prev_cache = seeds
    for k in (1, 2):
        new = read_jsonl(out / f"iter-{k:02d}" / "generation" / "new_instructions.jsonl", Instruction)
        train = read_jsonl(out / "pools" / f"{k:02d}" / "train.jsonl", Instruction)
        cache = read_jsonl(out / "pools" / f"{k:02d}" / "cache.jsonl", Instruction)
        assert train == new  # the Train Pool is replaced by the new instructions
        assert cache == prev_cache + new  # the Cache Pool is extended by them
        assert len({it.id for it in cache}) == len(cache)
        assert not heldout_ids & {it.id for it in cache}
        assert all(it.iteration == k and it.parent for it in new)
        parents = {it.id: it for it in prev_cache}
        assert all(it.category and it.category == parents[it.parent].category for it in new)  # arena seeds: their family
        assert its[k - 1].kept == len(new) and its[k - 1].cache_pool == len(prev_cache)
        prev_cache = cache
    for k in (1, 2):
        d = out / f"iter-{k:02d}"
        for f in ("imitation/teacher_answers.jsonl", "discrimination/student_answers.jsonl",
                  "discrimination/judgements.jsonl", "discrimination/split.jsonl",
                  "generation/candidates.jsonl", "student/model.safetensors", "heldout.json"):
            assert (d / f).exists(), f
    # the closing imitation: the last generation's instructions answered and trained on, the student scored;
    # nothing judged or generated after it, so the run asks the teacher for the seeds and N per iteration only
    trained = json.loads((out / "iter-03" / "imitation" / "train.json").read_text())
    cumulative = len(seeds) + sum(it.kept for it in its)  # every Train Pool so far, retrained from the base
    assert trained["examples"] == cumulative - closing.teacher_empty - closing.teacher_cut_off - sum(
        it.teacher_empty + it.teacher_cut_off for it in its)
    assert (closing.train_pool, closing.cache_pool, closing.hard, closing.generated) == (its[1].kept, cumulative, None, None)
    assert closing.heldout.relative_score is not None and not (out / "iter-03" / "discrimination").exists()
    cache = ResponseCache(out / "cache.sqlite", read_only=True)
    try:
        teacher = cache.spend()["by_role"]["teacher"]["calls"]
    finally:
        cache.close()
    assert teacher == cumulative + summary.before.questions
    assert not list(out.rglob(f"*{atomic.TMP_SUFFIX}"))

    # running it again is a no-op: nothing is asked again, the summary is the same
    again = run_loop(load_config(CONFIG, SMALL), out, lines.append)
    assert again == summary


def test_the_budget_stops_the_run_before_it_is_passed_and_a_raised_budget_goes_on(tmp_path):
    out = tmp_path / "run"
    priced = [*SMALL, "referee.price.input_per_mtok=2000", "referee.price.output_per_mtok=4000"]
    with pytest.raises(BudgetExceeded, match=r"budget: \$[\d.]+ spent and the next referee call could cost more"):
        run_loop(load_config(CONFIG, [*priced, "budget.max_usd=20"]), out, lambda m: None)
    cache = ResponseCache(out / "cache.sqlite")
    stopped_at = cache.spent_usd()
    cache.close()
    assert 0 < stopped_at <= 20
    done = json.loads((out / "state.json").read_text())["done"]
    assert "1.imitation" in done and "1.discrimination" not in done

    summary = run_loop(load_config(CONFIG, [*priced, "budget.max_usd=1000"]), out, lambda m: None)
    assert len(summary.iterations) == 3  # and the closing imitation
    spend = summary.spend
    assert set(spend.by_role) == {"teacher", "referee", "generator", "judge"}
    assert spend.total.cost_usd == spend.by_role["referee"].cost_usd > stopped_at
    assert sum(it.spend.calls for it in summary.iterations) < spend.total.calls  # + held-out before


def test_a_question_file_is_the_held_out_set_judged_after_each_iteration(tmp_path):
    from lion.arena.world import heldout_set

    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(
        json.dumps({"question_id": i, "category": h["family"], "turns": [h["instruction"]]}) + "\n"
        for i, h in enumerate(heldout_set(12, 5)) if not h["input"]), encoding="utf-8")
    summary = run_loop(load_config(CONFIG, [*SMALL, f"evaluation.heldout={questions}", "loop.iterations=1"]),
                       tmp_path / "run", lambda m: None)
    for scores in (summary.before, summary.iterations[0].heldout):
        assert scores.exact_match is None  # a question file has no accepted answers
        low, high = scores.relative_interval
        assert low <= scores.relative_score <= high
        assert sum(scores.wins_ties_losses) == scores.questions - scores.failed_judgements
        assert set(scores.categories) == {json.loads(line)["category"] for line in questions.read_text().splitlines()}


def test_a_missing_question_file_is_refused_before_the_run_starts(tmp_path):
    with pytest.raises(LionError, match="missing.jsonl: question file not found"):
        run_loop(load_config(CONFIG, [*SMALL, f"evaluation.heldout={tmp_path / 'missing.jsonl'}"]), tmp_path / "run", print)
    assert not (tmp_path / "run").exists()


def test_a_held_back_run_extended_after_its_closing_imitation_asks_no_question_again(tmp_path):
    """Its closing imitation trained on the last slice too, so it is not iteration 2's imitation:
    raised to two iterations, the run trains iteration 2's student again with its slice held back
    (the teacher's answers come from the cache), judges the slice, and closes once more."""
    out = tmp_path / "run"
    held = [*SMALL, "loop.judged=held_back", "evaluation.heldout=none"]
    first = run_loop(load_config(CONFIG, [*held, "loop.iterations=1"]), out, lambda m: None)
    assert [(it.iteration, it.closing, it.held_back) for it in first.iterations] == [(1, False, 15), (2, True, None)]
    closed = paid_per_step(out)
    assert json.loads((out / "iter-02" / "imitation" / "train.json").read_text())["examples"] == 60 + 20

    second = run_loop(load_config(CONFIG, [*held, "loop.iterations=2"]), out, lambda m: None)
    assert [(it.iteration, it.closing, it.held_back) for it in second.iterations] == [
        (1, False, 15), (2, False, 5), (3, True, None)]
    after = paid_per_step(out)
    assert {stage: n for stage, n in after.items() if stage in closed} == closed  # nothing asked again
    assert set(after) - set(closed) <= {"2.discrimination", "2.generation", "3.imitation:closing"}
    assert json.loads((out / "iter-02" / "imitation" / "train.json").read_text())["examples"] == 60 + 15
    done = json.loads((out / "state.json").read_text())["done"]
    assert "2.imitation:closing" not in done and {"2.imitation", "3.imitation:closing"} <= set(done)
