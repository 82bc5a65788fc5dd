"""`lion eval` on the arena: a reference, three candidates, a judge, and the paper's table."""

import json
from pathlib import Path

import numpy as np
import pytest

from lion.arena.world import corpus, heldout_set, seed_set
from lion.core.config import TinyStudentConfig, load_config
from lion.core.errors import LionError
from lion.data.questions import read_questions
from lion.evaluation.compare import run_evaluation
from lion.llm.scoring import relative_score
from lion.student.tiny import build_tiny_student
from lion.student.train import train_student

CONFIG = Path(__file__).parents[2] / "configs" / "arena.yaml"
SMALL = ["threads=1", "student.generate.max_new_tokens=24", "student.generate.batch_size=16"]
DATA = Path(__file__).parents[3] / "shared" / "data"


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def students(tmp_path_factory):
    """An untrained tiny student, and one trained on the teacher's answers to arena seeds."""
    root = tmp_path_factory.mktemp("eval-students")
    tiny = TinyStudentConfig(hidden_size=64, layers=2, heads=4)
    build_tiny_student(corpus(), root / "untrained", tiny, seed=0)
    seeds = [{"instruction": i, "input": x} for i, x in seed_set(160, 0)]
    teacher = run_evaluation_answers(root, seeds)
    cfg = load_config(CONFIG, [*SMALL, "student.train.epochs=12", "student.train.learning_rate=3e-3",
                               "student.train.lr_scheduler=constant", "student.train.warmup_ratio=0",
                               "student.train.batch_size=16", "student.train.max_length=96"])
    examples = [(s["instruction"], s["input"], a) for s, a in zip(seeds, teacher)]
    train_student(root / "untrained", examples, root / "trained", root / "work", cfg.student, threads=1)
    return root / "untrained", root / "trained"


def run_evaluation_answers(root: Path, rows: list[dict]) -> list[str]:
    from lion.evaluation.sources import Sources
    from lion.llm.cache import ResponseCache

    cfg = load_config(CONFIG, SMALL)
    questions = read_questions(write_jsonl(root / "seeds.jsonl", rows))
    cache = ResponseCache(root / "cache.sqlite")
    sources = Sources(cache, cfg, 1)
    try:
        found = sources.answers("teacher", f"{CONFIG}:teacher", questions)
    finally:
        sources.close()
        cache.close()
    return [turns[0] for turns in found]


def test_the_teacher_scores_100_and_the_trained_student_beats_the_untrained_one(tmp_path, students):
    untrained, trained = students
    questions = write_jsonl(tmp_path / "q.jsonl", [
        {"id": f"h{i}", "instruction": h["instruction"], "input": h["input"], "category": h["family"]}
        for i, h in enumerate(heldout_set(40, 0))])
    out = tmp_path / "eval"
    results = run_evaluation(questions, f"teacher={CONFIG}:teacher",
                             [f"teacher-again={CONFIG}:teacher", f"untrained={untrained}", f"trained={trained}"],
                             CONFIG, SMALL, out).results
    by = {r.name: r for r in results}
    assert by["teacher-again"].overall.relative == pytest.approx(100, abs=5)
    assert by["trained"].overall.relative > by["untrained"].overall.relative
    for name, r in by.items():
        rows = [json.loads(line) for line in (out / "judgements" / f"{name}.jsonl").read_text().splitlines()]
        assert len(rows) == 40 and all(row["reference_first"] and row["candidate_first"] for row in rows)  # both orders
        assert r.wins + r.ties + r.losses == r.overall.judged == 40 - r.left_out
        assert r.overall.low <= r.overall.relative <= r.overall.high
        assert set(r.categories) == {h["family"] for h in heldout_set(40, 0)}
    saved = json.loads((out / "results.json").read_text())
    assert [c["name"] for c in saved["candidates"]] == ["teacher-again", "untrained", "trained"]
    assert "| trained |" in (out / "results.md").read_text()
    assert (out / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # a candidate added later costs only its own calls: everything else comes from the cache
    again = run_evaluation(questions, f"teacher={CONFIG}:teacher", [f"trained={trained}"], CONFIG, SMALL, out)
    assert again.results[0].overall == by["trained"].overall
    assert again.spent_usd == {"teacher": 0.0, "trained": 0.0} and again.failed == []


def test_the_bootstrap_interval_narrows_with_more_questions():
    rng = np.random.default_rng(1)
    small, large = (relative_score(rng.uniform(5, 9, n), rng.uniform(3, 9, n)) for n in (20, 2000))
    assert (large.high - large.low) < (small.high - small.low) / 4
    assert relative_score(np.array([]), np.array([])).relative is None


@pytest.mark.skipif(not DATA.is_dir(), reason=f"{DATA} is absent: the shared data sets sit beside the clone")
@pytest.mark.parametrize("name, count, first", [("vicuna_bench_questions", 80, "generic"), ("mt_bench_questions", 80, "writing"),
                                                ("self_instruct_seed_tasks", 175, "all")])
def test_question_files_of_every_shipped_format_are_read(name, count, first):
    questions = read_questions(DATA / f"{name}.jsonl")
    assert len(questions) == count and questions[0].category == first and questions[0].instruction


@pytest.mark.parametrize("rows, message", [
    ([{"turns": ["q"]}, {"turns": ["r"]}], None),
    ([{"question_id": 1, "turns": ["q"]}, {"question_id": 1, "turns": ["r"]}], "question id 1 is already used on line 1"),
    ([{"instruction": "  "}], "line 1: the question is empty"),
    ([{"question": "q"}], "line 1: the record has no 'instruction' field"),
])
def test_bad_question_files_are_refused_in_one_sentence(tmp_path, rows, message):
    path = write_jsonl(tmp_path / "q.jsonl", rows)
    if message is None:
        assert [q.id for q in read_questions(path)] == ["1", "2"]
    else:
        with pytest.raises(LionError, match=message):
            read_questions(path)


def test_a_conversation_is_answered_turn_by_turn_and_every_turn_judged(tmp_path, students):
    _, trained = students
    asked = heldout_set(24, 3)
    questions = write_jsonl(tmp_path / "mt.jsonl", [
        {"question_id": i, "category": first["family"], "turns": [first["instruction"], second["instruction"]]}
        for i, (first, second) in enumerate(zip(asked[::2], asked[1::2])) if not first["input"] and not second["input"]])
    count = len(read_questions(questions))
    out = tmp_path / "eval"
    [result] = run_evaluation(questions, f"teacher={CONFIG}:teacher", [f"trained={trained}"], CONFIG, SMALL, out,
                              turns=2).results
    rows = [json.loads(line) for line in (out / "judgements" / "trained.jsonl").read_text().splitlines()]
    assert sorted(r["turn"] for r in rows) == [1] * count + [2] * count
    assert all(r["reference_first"] and r["candidate_first"] for r in rows)
    assert set(result.turns) == {"1", "2"} and result.overall.judged + result.left_out == 2 * count
    answers = [json.loads(line) for line in (out / "answers" / "trained.jsonl").read_text().splitlines()]
    assert all(len(a["answers"]) == 2 for a in answers)
    assert "## Per turn" in (out / "results.md").read_text()
