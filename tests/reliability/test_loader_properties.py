"""Property-based tests of the record loaders: what we write reads back the same, and no byte
string makes a loader fail with anything but one LionError sentence."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lion.core.config import DataConfig
from lion.core.errors import LionError
from lion.core.records import Instruction, read_jsonl, write_jsonl
from lion.data.questions import Question, read_questions
from lion.data.seeds import load_seed_file
from lion.evaluation.sources import answers_file

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
text = st.text(min_size=1, max_size=60).filter(lambda t: t.strip())
records = st.lists(st.fixed_dictionaries({"instruction": text, "input": st.text(max_size=30)}), min_size=1, max_size=8)


def _file(data: bytes, suffix: str) -> Path:
    with tempfile.NamedTemporaryFile(suffix=suffix, delete=False) as f:
        f.write(data)
    return Path(f.name)


@SETTINGS
@given(records, st.booleans(), st.booleans())
def test_seed_files_read_back_what_was_written(recs, as_array, ascii_only):
    if as_array:
        data = json.dumps(recs, ensure_ascii=ascii_only, indent=1)
    else:
        data = "".join(json.dumps(r, ensure_ascii=ascii_only) + "\n" for r in recs)
    path = _file(data.encode("utf-8"), ".json" if as_array else ".jsonl")
    try:
        got = load_seed_file(path, DataConfig())
    finally:
        path.unlink()
    assert [(i.instruction, i.input) for i in got] == [(r["instruction"].strip(), r["input"].strip()) for r in recs]


@SETTINGS
@given(st.binary(max_size=300) | st.text(max_size=200).map(lambda t: t.encode("utf-8")))
def test_any_bytes_either_load_or_are_refused_in_one_sentence(data):
    for suffix, load in ((".jsonl", lambda p: load_seed_file(p, DataConfig())), (".json", read_questions)):
        path = _file(data, suffix)
        try:
            load(path)
        except LionError as e:
            message = str(e)
            assert message.startswith(str(path)) and "\n" not in message and message.endswith(".")
        finally:
            path.unlink()


@SETTINGS
@given(st.lists(st.tuples(text, st.text(max_size=20), st.sampled_from(["seed", "from-hard", "from-easy"]),
                          st.text(max_size=12)), max_size=6))
def test_run_records_read_back_equal(items):
    written = [Instruction.make(i, x, origin=o, parent=None if o == "seed" else "p" * 16, iteration=int(o != "seed"),
                                category=c) for i, x, o, c in items]
    path = _file(b"", ".jsonl")
    try:
        write_jsonl(path, written)
        assert read_jsonl(path, Instruction) == written
    finally:
        path.unlink()


@SETTINGS
@given(st.lists(text, min_size=1, max_size=6), st.binary(max_size=200))
def test_answer_files_match_by_id_or_refuse(answers, noise):
    questions = [Question(str(n), "all", f"question {n}", turns=(f"question {n}",)) for n in range(len(answers))]
    good = _file("".join(json.dumps({"question_id": n, "answer": a}) + "\n" for n, a in enumerate(answers)).encode(), ".jsonl")
    bad = _file(noise, ".jsonl")
    try:
        assert answers_file(good, questions) == [[a] for a in answers]
        try:
            answers_file(bad, questions)
        except LionError as e:
            assert str(e).startswith(str(bad)) and "\n" not in str(e)
    finally:
        good.unlink()
        bad.unlink()
