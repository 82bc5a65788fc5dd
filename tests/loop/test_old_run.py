"""A run folder written before the package was laid out in layers (commit 033ecac, by its own
`lion run`) still shows its status, reports and resumes, without asking any question again.

It was finished then; now a closing imitation follows the last generation, so it reads as
stopped before it, and resuming trains on the instructions its last generation wrote."""

import json
import shutil
from pathlib import Path

from lion.core.config import load_config
from lion.loop.runner import run_loop
from lion.observe.report import write_report
from lion.observe.status import collect
from paid_calls import paid_per_step

FIXTURE = Path(__file__).parents[1] / "fixtures" / "run-033ecac"  # one iteration of a tiny arena run



def known(new: object, old: object) -> object:
    """`new` with only the keys `old` has, at every depth of nested objects."""
    if isinstance(new, dict) and isinstance(old, dict):
        return {key: known(value, old[key]) for key, value in new.items() if key in old}
    return new


def test_an_old_run_folder_shows_its_status_reports_and_resumes(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    old = json.loads((run / "summary.json").read_text())

    st = collect(run)
    assert st.state == "stopped" and [(s.name, s.state) for s in st.steps][-3:] == [
        ("1.heldout", "done"), ("2.imitation", "pending"), ("2.heldout", "pending")]
    # read as the old code wrote it; fields added since (at any depth) read as unknown or zero
    assert [known(it.model_dump(mode="json"), was) for it, was in zip(st.iterations, old["iterations"])] == old["iterations"]
    assert st.iterations[0].teacher_empty is None
    assert st.before.model_dump(mode="json") == old["before"]
    assert write_report(run).read_text().count("<img") >= 3

    asked = paid_per_step(run)
    summary = run_loop(load_config(run / "config.yaml"), run, lambda m: None)
    assert [(it.iteration, it.closing) for it in summary.iterations] == [(1, False), (2, True)]
    closed = paid_per_step(run)
    assert {stage: n for stage, n in closed.items() if stage in asked} == asked  # iteration 1 was not asked again
    assert set(closed) - set(asked) <= {"2.imitation", "2.heldout"} and "2.imitation" in closed
    assert collect(run).state == "finished"

    # raising loop.iterations goes on from there: the closing imitation was iteration 2's
    summary = run_loop(load_config(run / "config.yaml", ["loop.iterations=2"]), run, lambda m: None)
    assert [(it.iteration, it.closing) for it in summary.iterations] == [(1, False), (2, False), (3, True)]
    after = paid_per_step(run)
    assert {stage: n for stage, n in after.items() if stage in closed} == closed  # nothing asked again
    # (its tiny student answers every question alike, so the cache may hold the verdicts already)
    assert {"2.generation", "3.imitation"} <= set(after) - set(closed) <= {"2.discrimination", "2.generation",
                                                                          "3.imitation", "3.heldout"}
    st = collect(run)
    assert st.state == "finished" and [s.name for s in st.steps][-1] == "3.heldout"
