from lion.core.records import Instruction, Response, instruction_id, read_jsonl, write_jsonl


def test_id_is_stable_under_case_and_spacing():
    assert instruction_id("Name a  colour.", "") == instruction_id("name a colour.  ", "")
    assert instruction_id("Name a colour.", "red") != instruction_id("Name a colour.", "")


def test_jsonl_round_trip(tmp_path):
    items = [Instruction.make("Say hi.", origin="from-hard", parent="abc", iteration=2), Instruction.make("Add.", "1 2")]
    write_jsonl(tmp_path / "x.jsonl", items)
    assert read_jsonl(tmp_path / "x.jsonl", Instruction) == items
    write_jsonl(tmp_path / "r.jsonl", [Response(id="a", instruction="q", text="t")])
    assert read_jsonl(tmp_path / "r.jsonl", Response)[0].text == "t"
    assert not list(tmp_path.glob(".*tmp"))  # no temporary files left behind
