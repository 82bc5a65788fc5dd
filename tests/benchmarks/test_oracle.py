"""The ablation's oracle (benchmarks/oracle.py): a signal only the benchmark registers."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from lion.arena import parse
from lion.core import modes
from lion.core.config import load_config
from lion.core.errors import LionError
from lion.core.records import SplitRecord, read_jsonl, write_jsonl
from lion.loop import signals
from lion.loop.stages.discrimination import run_discrimination

sys.path.insert(0, str(Path(__file__).parents[1] / "loop" / "stages"))
from test_discrimination import stage_context  # noqa: E402

ORACLE = Path(__file__).parents[2] / "benchmarks" / "oracle.py"


@pytest.fixture
def oracle(monkeypatch):
    spec = importlib.util.spec_from_file_location("oracle", ORACLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # registered for this test only, as the benchmark's own process registers it
    monkeypatch.setitem(modes.SIGNALS, "oracle", module.Oracle())
    monkeypatch.setitem(signals.SPLITTERS, "oracle", module.by_oracle)
    return module


def test_no_user_config_reaches_the_oracle(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("loop:\n  judged: held_back\n  signal: oracle\n")
    with pytest.raises(LionError, match="line 3, field 'loop.signal': unknown signal 'oracle'"):
        load_config(path)


def test_the_oracle_splits_by_the_students_true_accuracy_per_kind_and_calls_no_referee(make_ctx, oracle):
    ctx, pool = stage_context(make_ctx, 24, "loop.judged=held_back", "loop.signal=oracle")
    write_jsonl(ctx.run.heldout_questions, [])
    run_discrimination(ctx, 1, pool, ctx.student_dir(1), "held-back slice")
    out = ctx.run.iteration(1).discrimination
    scores = json.loads((out.root / "oracle.json").read_text())["score_by_kind"]
    assert scores and all(0.1 - 1e-9 <= p <= 1 + 1e-9 for p in scores.values())
    records = read_jsonl(out.split, SplitRecord)
    assert [r.id for r in records] == [it.id for it in pool] and sum(r.hard for r in records) == 12
    # every hard instruction's kind scores no better than any easy one's
    score = {r.id: scores[parse(it.instruction, it.input).family] for it, r in zip(pool, records)}
    assert max(score[r.id] for r in records if r.hard) <= min(score[r.id] for r in records if not r.hard)
    # the probe's answers are the student's (cached under its identity); no referee, no judge
    assert ctx.cache.spend()["by_role"].keys() == {"teacher"}
    assert len(oracle.probe(ctx)) == oracle.PROBE_SIZE
