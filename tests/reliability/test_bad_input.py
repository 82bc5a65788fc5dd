"""Malformed inputs of every kind a user hands us: each gets one sentence naming the file (and
the line and field where there is one), exit status 2, no traceback, and no output folder; an
--out that cannot be written leaves whatever is there as it was."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from lion.cli import main
from run_cli import lion
from small_run import SMALL

ROOT = Path(__file__).resolve().parents[2]
ARENA = ROOT / "configs" / "arena.yaml"
GOOD_Q = '{"question_id": 1, "category": "x", "turns": ["Name a colour."]}\n{"question_id": 2, "turns": ["Name a fruit."]}\n'
GOOD_A = '{"question_id": 1, "answer": "Red."}\n{"question_id": 2, "answer": "Apple."}\n'
HUGE = "word " * 5_000

# (id, file name, content, message pattern); {f} is the file's path
SEEDS = [
    ("latin-1", "s.jsonl", '{"instruction": "Café"}\n'.encode("latin-1"), r"{f}, line 1: the file is not UTF-8 text\."),
    ("utf-16", "s.jsonl", '{"instruction": "a b c"}\n'.encode("utf-16"), r"{f}, line 1: the file is not UTF-8 text\."),
    ("binary", "s.json", b"\x89PNG\r\n\x1a\n\x00\x00", r"{f}, line \d: the file is not UTF-8 text\."),
    ("truncated-array", "s.json", b'[\n {"instruction": "a"},\n {"instruction": "b"', r"{f}, line 3: invalid JSON"),
    ("truncated-jsonl", "s.jsonl", b'{"instruction": "a"}\n{"instruction": "b"}\n{"instruction": "c', r"{f}, line 3: invalid JSON"),
    ("not-an-object", "s.json", b"[1, 2]", r"{f}, line 1: expected a JSON object, got int\."),
    ("no-instruction", "s.jsonl", b'{"instruction": "a"}\n{"prompt": "b"}\n', r"{f}, line 2: the record has no 'instruction' field\."),
    ("number-instruction", "s.jsonl", b'{"instruction": 42}\n', r"{f}, line 1, field 'instruction': expected text, got int\."),
    ("null-instruction", "s.jsonl", b'{"instruction": null}\n', r"{f}, line 1: the record has no 'instruction' field\."),
    ("empty-instruction", "s.jsonl", b'{"instruction": "a"}\n{"instruction": "  "}\n',
     r"{f}, line 2, field 'instruction': the instruction is empty\."),
    ("huge-instruction", "s.jsonl", json.dumps({"instruction": HUGE}).encode(),
     r"{f}, line 1, field 'instruction': 25000 characters is over the 20000 limit\."),
    ("list-input", "s.jsonl", b'{"instruction": "a", "input": ["x"]}\n', r"{f}, line 1, field 'input': expected text, got list\."),
    ("bad-instances", "s.jsonl", b'{"instruction": "a", "instances": [3]}\n', r"{f}, line 1, field 'instances': expected a list"),
    ("number-category", "s.jsonl", b'{"instruction": "a", "category": 7}\n', r"{f}, line 1, field 'category': expected text, got int\."),
    ("empty-file", "s.jsonl", b"", r"{f}: the file is empty\."),
    ("blank-file", "s.jsonl", b"\n  \n", r"{f}: the file is empty\."),
    ("empty-array", "s.json", b"[]", r"{f}: the file holds no records\."),
    ("text-after-array", "s.json", b'[{"instruction": "a"}] trailing', r"{f}, line 1: unexpected text after the JSON array\."),
    ("missing-file", "absent.jsonl", None, r"{f}: seed file not found\."),
    ("a-folder", "folder", "dir", r"{f}: is a folder, not a seed file\."),
]

CONFIGS = [
    ("yaml-syntax", "c.yaml", b"loop:\n  iterations: [1\n", r"{f}, line 3: "),
    ("not-a-mapping", "c.yaml", b"- teacher\n- student\n", r"{f}, line 1: a config must be a mapping of sections\."),
    ("unknown-key", "c.yaml", b"loop:\n  iteratons: 2\n", r"{f}, line 2, field 'loop\.iteratons': unknown key\."),
    ("wrong-type", "c.yaml", b"loop:\n  iterations: three\n", r"{f}, line 2, field 'loop\.iterations': "),
    ("out-of-range", "c.yaml", b"loop:\n  hard_share: 1.5\n", r"{f}, line 2, field 'loop\.hard_share': "),
    ("config-latin-1", "c.yaml", "# café\nloop: {iterations: 1}\n".encode("latin-1"), r"{f}: config file is not UTF-8 text\."),
    ("missing-config", "absent.yaml", None, r"{f}: config file not found\."),
    ("config-a-folder", "configs", "dir", r"{f}: is a folder, not a config file\."),
]

QUESTIONS = [
    ("question-no-text", "q.jsonl", b'{"question_id": 1, "category": "x"}\n', r"{f}, line 1: the record has no 'instruction' field\."),
    ("question-duplicate-id", "q.jsonl", b'{"question_id": 1, "turns": ["a"]}\n{"question_id": 1, "turns": ["b"]}\n',
     r"{f}, line 2: question id 1 is already used on line 1\."),
    ("question-bad-turns", "q.jsonl", b'{"question_id": 1, "turns": ["a", 3]}\n',
     r"{f}, line 1: field 'turns' must be a list of non-empty texts\."),
    ("question-not-utf8", "q.jsonl", '{"turns": ["é"]}\n'.encode("latin-1"), r"{f}, line 1: the file is not UTF-8 text\."),
]

ANSWERS = [
    ("answers-truncated", "a.jsonl", b'{"question_id": 1, "answer": "Red."}\n{"question_id": 2, "ans', r"{f}, line 2: invalid JSON"),
    ("answers-no-text", "a.jsonl", b'{"question_id": 1, "answer": "Red."}\n{"question_id": 2, "score": 3}\n',
     r"{f}, line 2: the record has no answer"),
    ("answers-missing-question", "a.jsonl", b'{"question_id": 1, "answer": "Red."}\n', r"{f}: no answer to question 2"),
    ("answers-number", "a.jsonl", b'{"question_id": 1, "answer": 5}\n{"question_id": 2, "answer": "x"}\n',
     r"{f}, line 1: field 'answer' must be text, got int\."),
]


def _write(tmp_path: Path, name: str, content: bytes | str | None) -> Path:
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    return path


def _lion(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """`lion ARGS` as the console script runs it, in this process (it is the same `main`)."""
    monkeypatch.setattr(sys, "argv", ["lion", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    captured = capsys.readouterr()
    return exit_.value.code, captured.err + captured.out


def _refused(code: int, output: str, pattern: str, path: Path) -> None:
    import re

    assert code == 2, output
    assert "Traceback" not in output
    message = " ".join(output.split())  # rich wraps long lines
    assert message.startswith("error: ") and message.count("error:") == 1, output
    assert re.search(pattern.format(f=re.escape(str(path))), message), message


@pytest.mark.parametrize("name, content, pattern", [c[1:] for c in SEEDS], ids=[c[0] for c in SEEDS])
def test_bad_seed_file(tmp_path, monkeypatch, capsys, name, content, pattern):
    path = _write(tmp_path, name, content)
    out = tmp_path / "run"
    code, output = _lion(monkeypatch, capsys, "run", str(ARENA), "--out", str(out), "--set", f"data.seeds={path}")
    _refused(code, output, pattern, path)
    assert not out.exists()


@pytest.mark.parametrize("name, content, pattern", [c[1:] for c in CONFIGS], ids=[c[0] for c in CONFIGS])
def test_bad_config(tmp_path, monkeypatch, capsys, name, content, pattern):
    path = _write(tmp_path, name, content)
    out = tmp_path / "run"
    code, output = _lion(monkeypatch, capsys, "run", str(path), "--out", str(out))
    _refused(code, output, pattern, path)
    assert not out.exists()


def _eval(tmp_path, monkeypatch, capsys, questions: Path, answers: Path) -> tuple[int, str, Path]:
    out = tmp_path / "eval"
    code, output = _lion(monkeypatch, capsys, "eval", "--questions", str(questions), "--reference", f"ref={answers}",
                         "--candidate", f"cand={answers}", "--judge", str(ARENA), "--out", str(out))
    return code, output, out


@pytest.mark.parametrize("name, content, pattern", [c[1:] for c in QUESTIONS], ids=[c[0] for c in QUESTIONS])
def test_bad_question_file(tmp_path, monkeypatch, capsys, name, content, pattern):
    path = _write(tmp_path, name, content)
    code, output, out = _eval(tmp_path, monkeypatch, capsys, path, _write(tmp_path, "a.jsonl", GOOD_A.encode()))
    _refused(code, output, pattern, path)
    assert not out.exists()


@pytest.mark.parametrize("name, content, pattern", [c[1:] for c in ANSWERS], ids=[c[0] for c in ANSWERS])
def test_bad_answer_file(tmp_path, monkeypatch, capsys, name, content, pattern):
    path = _write(tmp_path, name, content)
    code, output, out = _eval(tmp_path, monkeypatch, capsys, _write(tmp_path, "q.jsonl", GOOD_Q.encode()), path)
    _refused(code, output, pattern, path)
    assert not out.exists()


def _contents(path: Path) -> dict[str, bytes | None]:
    """Every file under `path` (or `path` itself) with its bytes; folders as None."""
    if path.is_file():
        return {".": path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() if p.is_file() else None for p in sorted(path.rglob("*"))}


@pytest.fixture
def notes(tmp_path) -> Path:
    """A regular file a user names as --out by mistake."""
    path = tmp_path / "notes.txt"
    path.write_text("my notes\n", encoding="utf-8")
    return path


@pytest.fixture
def models(tmp_path) -> Path:
    """A folder that already holds another model and a notes file."""
    root = tmp_path / "models"
    (root / "other-model").mkdir(parents=True)
    (root / "other-model" / "config.json").write_text('{"model_type": "llama"}\n', encoding="utf-8")
    (root / "notes.md").write_text("which model is which\n", encoding="utf-8")
    return root


def _out_commands(small_run: Path, tmp_path: Path) -> dict[str, list[str]]:
    """Every command that writes a folder named by --out, with otherwise good arguments."""
    q = _write(tmp_path, "q.jsonl", GOOD_Q.encode())
    a = _write(tmp_path, "a.jsonl", GOOD_A.encode())
    return {
        "run": ["run", str(ARENA), *(x for s in SMALL for x in ("--set", s))],
        "demo": ["demo", "--iterations", "1", "--threads", "1"],
        "report": ["report", str(small_run)],
        "eval": ["eval", "--questions", str(q), "--reference", f"ref={a}", "--candidate", f"cand={a}", "--judge", str(ARENA)],
        "eval-harness": ["eval-harness", str(small_run), "--tasks", "no_such_task", "--threads", "1"],
        "export": ["export", str(small_run)],
    }


@pytest.mark.parametrize("command", ["run", "demo", "report", "eval", "eval-harness", "export"])
def test_out_naming_a_file_is_refused_and_the_file_kept(small_run, tmp_path, monkeypatch, capsys, notes, command):
    args = _out_commands(small_run, tmp_path)[command]
    code, output = _lion(monkeypatch, capsys, *args, "--out", str(notes))
    _refused(code, output, r"{f} is a file, not a folder; choose another --out\.", notes)
    assert notes.read_bytes() == b"my notes\n"


def test_out_under_a_file_is_refused(small_run, tmp_path, monkeypatch, capsys, notes):
    code, output = _lion(monkeypatch, capsys, "report", str(small_run), "--out", str(notes / "report"))
    _refused(code, output, r"{f} is a file, not a folder, so .*report cannot be a folder", notes)
    assert notes.read_bytes() == b"my notes\n"


def test_export_into_a_folder_of_other_files_is_refused_and_they_survive(small_run, monkeypatch, capsys, models):
    before = _contents(models)
    code, output = _lion(monkeypatch, capsys, "export", str(small_run), "--out", str(models))
    _refused(code, output, r"{f} exists and is not empty; choose a new or empty --out folder\.", models)
    assert _contents(models) == before
    assert [p.name for p in models.parent.iterdir() if p.name.startswith(".")] == []  # no staging folder left


def test_run_into_a_folder_of_other_files_is_refused(tmp_path, monkeypatch, capsys, models):
    before = _contents(models)
    code, output = _lion(monkeypatch, capsys, "run", str(ARENA), "--out", str(models), "--set", "threads=1")
    _refused(code, output, r"{f} is not empty and holds no lion run; choose a new or empty --out folder\.", models)
    assert _contents(models) == before


def test_run_into_an_empty_folder_gets_past_the_folder_check(tmp_path, monkeypatch, capsys):
    out = tmp_path / "empty"
    out.mkdir()
    seeds = tmp_path / "absent.jsonl"
    code, output = _lion(monkeypatch, capsys, "run", str(ARENA), "--out", str(out), "--set", f"data.seeds={seeds}")
    _refused(code, output, r"{f}: seed file not found\.", seeds)  # the next check along, not the folder
    assert list(out.iterdir()) == []


def test_an_existing_run_folder_still_resumes(small_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(small_run, copy)
    r = lion("run", str(ARENA), "--out", str(copy), *(x for s in SMALL for x in ("--set", s)), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"run folder: {copy}" in r.stdout


@pytest.mark.parametrize("command", ["eval-harness", "export"])
@pytest.mark.parametrize("missing", ["runs/demo", "./demo", "~/lion-no-such-run"])
def test_a_missing_student_is_refused_before_the_hub_is_asked(tmp_path, monkeypatch, capsys, command, missing):
    monkeypatch.chdir(tmp_path)
    extra = ["--tasks", "bbh_zeroshot"] if command == "eval-harness" else []
    code, output = _lion(monkeypatch, capsys, command, missing, *extra, "--out", "out")
    _refused(code, output, r"{f}: no such run or model folder\.", Path(missing))
    assert list(tmp_path.iterdir()) == []


def test_a_harness_task_whose_data_set_is_out_of_reach_is_one_sentence(small_run, tmp_path):
    pytest.importorskip("lm_eval", reason="lm-evaluation-harness is the optional [harness] extra")
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "hub.yaml").write_text(
        "task: lion_on_the_hub\ndataset_path: lion-distill/no-such-dataset\ntest_split: test\n"
        "output_type: multiple_choice\ndoc_to_text: '{{question}}'\ndoc_to_choice: '{{choices}}'\n"
        "doc_to_target: '{{answer}}'\nmetric_list:\n  - metric: acc\n    aggregation: mean\n    higher_is_better: true\n",
        encoding="utf-8")
    r = lion("eval-harness", str(small_run), "--tasks", "lion_on_the_hub", "--include-path", str(tasks), "--out", "out",
             "--threads", "1", cwd=tmp_path, env={"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    last = " ".join(r.stderr.strip().splitlines()[-1:])
    assert last.startswith("error: harness task lion_on_the_hub could not be loaded: "), r.stderr
    assert "lion-distill/no-such-dataset" in last
    assert not (tmp_path / "out").exists()


def test_the_corpus_is_large_enough():
    assert len(SEEDS) + len(CONFIGS) + len(QUESTIONS) + len(ANSWERS) >= 25
