"""A stage with nothing usable stops the run in one sentence, and status and report say so."""

from pathlib import Path

import pytest

from lion.core.config import load_config
from lion.core.errors import LionError
from lion.loop.describe import COLUMNS, STATUS, cells, heldout_text
from lion.loop.runner import run_loop
from lion.loop.stages.heldout import HeldoutResult
from lion.loop.summary import IterationRecord
from lion.observe.report import write_report
from lion.observe.status import collect

CONFIG = Path(__file__).parents[2] / "configs" / "arena.yaml"
TINY = ["threads=1", "loop.iterations=1", "loop.new_per_iteration=8", "data.arena_size=24", "evaluation.heldout_size=10",
        "student.tiny.hidden_size=32", "student.tiny.layers=1", "student.tiny.heads=2", "student.train.epochs=1",
        "student.generate.max_new_tokens=24"]


@pytest.mark.parametrize(("role", "step", "sentence"), [
    ("referee", "1.discrimination", r"referee: none of the 24 instructions of iteration 1's Cache Pool was judged; "
                                    r"the commonest problem, 24 of 24: .*cut off at max_tokens \(3\)\."),
    ("judge", "before", r"judge: none of the 10 held-out questions was judged \(before training\); "
                        r"the commonest problem, 10 of 10: .*cut off at max_tokens \(3\)\."),
])
def test_a_role_whose_every_reply_is_cut_off_stops_the_run(tmp_path, role, step, sentence):
    run = tmp_path / "run"
    with pytest.raises(LionError, match=sentence):
        run_loop(load_config(CONFIG, [*TINY, f"{role}.decoding.max_tokens=3", f"{role}.parse_retries=0"]), run,
                 lambda m: None)
    st = collect(run)
    assert st.state == "stopped" and st.last_error["step"] == step
    assert f"{role}: none of" in st.last_error["message"]
    page = write_report(run).with_suffix(".md").read_text()
    assert "**The run stopped**" in page and f"{role}: none of" in page
    assert "None" not in page


def test_failed_items_are_counted_once_and_nothing_unknown_reads_as_none():
    # the discrimination step's failed.jsonl lists its failed judgements with its other failures
    record = IterationRecord(iteration=1, failed_judgements=3, failed_items={"imitation": 1, "discrimination": 3})
    assert dict(zip(STATUS["pools"], cells(record, STATUS["pools"])))["failed"] == "4"
    nothing = HeldoutResult(questions=10, failed_judgements=10)
    assert heldout_text(nothing) == "no relative score (10 of 10 questions not judged)"
    assert "None" not in " ".join(cells(IterationRecord(iteration=2), tuple(COLUMNS)))
