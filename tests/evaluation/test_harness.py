"""`lion eval-harness`: lm-evaluation-harness on a student, offline, with a task from local files."""

import json
from pathlib import Path

import pytest

from lion.arena.world import corpus
from lion.core.config import TinyStudentConfig
from lion.student.tiny import build_tiny_student
from run_cli import lion

pytest.importorskip("lm_eval", reason="lm-evaluation-harness is the optional [harness] extra")

OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}  # the hub is out of reach: don't wait for it
COUNTRIES = {"Peru": "Lima", "France": "Paris", "Japan": "Tokyo", "Egypt": "Cairo"}


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("harness")
    build_tiny_student(corpus(), root / "student", TinyStudentConfig(hidden_size=64, layers=2), seed=0)
    tasks = root / "tasks"
    tasks.mkdir()
    rows = [{"question": f"What is the capital of {c}?", "choices": list(COUNTRIES.values()), "answer": i}
            for i, c in enumerate(COUNTRIES)]
    (tasks / "capitals.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (tasks / "capitals.yaml").write_text(
        "task: lion_capitals\n"
        "dataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {tasks / 'capitals.jsonl'}\n"
        "test_split: test\n"
        "output_type: multiple_choice\n"
        'doc_to_text: "{{question}}\\nAnswer:"\n'
        'doc_to_choice: "{{choices}}"\n'
        'doc_to_target: "{{answer}}"\n'
        "metric_list:\n  - metric: acc\n",
        encoding="utf-8",
    )
    return root


def test_a_local_task_runs_on_a_student_and_its_accuracy_is_written(setup):
    r = lion("eval-harness", "student", "--tasks", "lion_capitals", "--include-path", "tasks", "--out", "out",
             "--threads", "1", "--batch-size", "4", cwd=setup, env=OFFLINE)
    assert r.returncode == 0, r.stderr
    result = json.loads((setup / "out" / "harness.json").read_text())
    acc = result["results"]["lion_capitals"]["acc,none"]
    assert 0 <= acc <= 1 and acc * len(COUNTRIES) == round(acc * len(COUNTRIES))  # a share of 4 questions
    assert result["num_fewshot"] == 0
    assert "| lion_capitals | 4 | acc |" in (setup / "out" / "harness.md").read_text()
    assert "lion_capitals: acc" in r.stdout


def test_an_unknown_task_is_one_sentence(setup):
    r = lion("eval-harness", "student", "--tasks", "no_such_task", "--out", "out2", "--threads", "1", cwd=setup, env=OFFLINE)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "unknown harness task: no_such_task" in r.stderr
