import json
from pathlib import Path

import pytest

from lion.core.config import DataConfig, FieldMap
from lion.core.errors import LionError
from lion.data.seeds import load_seed_file, load_seeds

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def load(tmp_path, text, name="s.jsonl", **kw):
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p, load_seed_file(p, DataConfig(**kw))


def test_alpaca_json_array_with_input(tmp_path):
    data = [{"instruction": "Translate.", "input": "bonjour", "output": "hello"}, {"instruction": "Say hi.", "input": ""}]
    _, items = load(tmp_path, json.dumps(data, indent=1), "a.json")
    assert [(i.instruction, i.input) for i in items] == [("Translate.", "bonjour"), ("Say hi.", "")]


def test_field_mapping(tmp_path):
    _, items = load(tmp_path, '{"prompt": "Hi?", "context": "x"}\n', fields=FieldMap(instruction="prompt", input="context"))
    assert (items[0].instruction, items[0].input) == ("Hi?", "x")


def test_unicode_line_separators_inside_a_jsonl_string_do_not_split_the_record(tmp_path):
    text = json.dumps({"instruction": "a\x85b\u2028c", "input": "d\u2029e"}, ensure_ascii=False) + "\n"
    _, items = load(tmp_path, text)
    assert (items[0].instruction, items[0].input) == ("a\x85b\u2028c", "d\u2029e")


def test_a_seed_keeps_its_category_where_the_file_has_one(tmp_path):
    text = '{"instruction": "Hi?", "category": "greeting "}\n{"instruction": "Bye?"}\n'
    _, items = load(tmp_path, text)
    assert [i.category for i in items] == ["greeting", ""]
    _, items = load(tmp_path, '{"instruction": "Hi?", "domain": "chat"}\n', fields=FieldMap(category="domain"))
    assert items[0].category == "chat"
    with pytest.raises(LionError, match=r"s.jsonl, line 1, field 'category': expected text, got int"):
        load(tmp_path, '{"instruction": "Hi?", "category": 3}\n')


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data is not beside the checkout")
def test_self_instruct_file_takes_the_first_instance_input():
    items = load_seed_file(SHARED / "self_instruct_seed_tasks.jsonl", DataConfig())
    assert len(items) == 175 and any(i.input for i in items)


@pytest.mark.parametrize(
    "text, name, message",
    [
        ('{"instruction": "a b c d"}\n{"instruction": "x"\n', "s.jsonl", r"s.jsonl, line 2: invalid JSON"),
        ('[\n {"instruction": "a"},\n {"input": "b"}\n]', "s.json", r"s.json, line 3: the record has no 'instruction' field"),
        ('{"instruction": ["a"]}\n', "s.jsonl", r"line 1, field 'instruction': expected text, got list"),
        ('{"instruction": "   "}\n', "s.jsonl", r"line 1, field 'instruction': the instruction is empty"),
        ("", "s.jsonl", r"s.jsonl: the file is empty"),
        ("\n\n", "s.jsonl", r"s.jsonl: the file is empty"),
        ("[]", "s.json", r"s.json: the file holds no records"),
        (b'{"instruction": "caf\xe9"}\n', "s.jsonl", r"s.jsonl, line 1: the file is not UTF-8 text"),
        ('[{"instruction": "a"} {"instruction": "b"}]', "s.json", r"line 1: invalid JSON"),
        ("7\n", "s.jsonl", r"line 1: expected a JSON object, got int"),
    ],
)
def test_bad_seed_files_get_one_sentence(tmp_path, text, name, message):
    with pytest.raises(LionError, match=message):
        load(tmp_path, text, name)


def test_missing_file(tmp_path):
    with pytest.raises(LionError, match="seed file not found"):
        load_seed_file(tmp_path / "nope.jsonl", DataConfig())


def test_duplicates_are_dropped_and_counted(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text('{"instruction": "Say hi."}\n{"instruction": "say  HI."}\n{"instruction": "Other."}\n')
    items, dupes = load_seeds(DataConfig(seeds=str(p)), 0)
    assert [i.instruction for i in items] == ["Say hi.", "Other."] and dupes == 1


def test_arena_seeds_take_the_configured_register():
    from lion.arena.world import is_wide

    wide, _ = load_seeds(DataConfig(arena_size=50, arena_frames="wide"), 0)
    standard, _ = load_seeds(DataConfig(arena_size=50), 0)
    assert sum(is_wide(s.instruction) for s in wide) > 30 and not any(is_wide(s.instruction) for s in standard)
