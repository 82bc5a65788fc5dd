"""`lion dedup`: the novelty filter on instruction files, as a user runs it."""

import json

from lion.data.similarity import rouge_l
from run_cli import lion

POOL = [{"instruction": "Write a poem about the sea at night."}, {"instruction": "List three uses of copper."}]
INPUT = [
    {"instruction": "Write a poem about the sea at night!", "input": "", "output": "a"},  # the pool's first
    {"instruction": "Explain how a refrigerator keeps food cold.", "input": "", "output": "b"},
    {"instruction": "Explain how a refrigerator keeps the food cold.", "input": "", "output": "c"},  # the one above
    {"instruction": "Name a mammal that lays eggs.", "input": "", "output": "d"},
]


def test_keeps_novel_records_in_order_in_the_input_format(tmp_path):
    (tmp_path / "pool.jsonl").write_text("".join(json.dumps(r) + "\n" for r in POOL))
    (tmp_path / "new.json").write_text("[\n" + ",\n".join(json.dumps(r) for r in INPUT) + "\n]\n")  # record i on line i + 2
    r = lion("dedup", "--threads", "1", "new.json", "--against", "pool.jsonl", "--out", "kept.json", "--dropped", "dropped.jsonl",
             cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "kept 2 of 4; dropped 1 too close to the pool and 1 too close to an earlier record" in r.stdout
    assert json.loads((tmp_path / "kept.json").read_text()) == [INPUT[1], INPUT[3]]
    dropped = [json.loads(line) for line in (tmp_path / "dropped.jsonl").read_text().splitlines()]
    assert [d["nearest"] for d in dropped] == ["pool.jsonl, line 1", "new.json, line 3"]  # the kept record it repeats
    assert dropped[0]["rouge_l"] == rouge_l(INPUT[0]["instruction"], POOL[0]["instruction"]) > 0.7


def test_jsonl_stays_jsonl_and_a_lower_threshold_drops_more(tmp_path):
    (tmp_path / "new.jsonl").write_text("".join(json.dumps(r) + "\n" for r in INPUT))
    r = lion("dedup", "--threads", "1", "new.jsonl", "--out", "kept.jsonl", "--threshold", "0.2", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    kept = [json.loads(line) for line in (tmp_path / "kept.jsonl").read_text().splitlines()]
    assert kept[0] == INPUT[0] and len(kept) < 4


def test_bad_input_gets_one_sentence(tmp_path):
    (tmp_path / "new.jsonl").write_text('{"instruction": "ok then"}\n{"prompt": "no instruction"}\n')
    r = lion("dedup", "--threads", "1", "new.jsonl", "--out", "kept.jsonl", cwd=tmp_path)
    assert r.returncode == 2 and "new.jsonl, line 2: the record has no 'instruction' field." in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "kept.jsonl").exists()
    r = lion("dedup", "--threads", "1", "new.jsonl", "--out", "kept.jsonl", "--threshold", "1.5", cwd=tmp_path)
    assert r.returncode == 2 and "--threshold 1.5: must be above 0 and at most 1." in r.stderr
    r = lion("dedup", "--threads", "1", "missing.jsonl", "--out", "kept.jsonl", cwd=tmp_path)
    assert r.returncode == 2 and "missing.jsonl: input file not found." in r.stderr
