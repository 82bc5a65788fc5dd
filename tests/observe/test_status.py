import json
import os
from pathlib import Path

import pytest

from lion.core.config import load_config
from lion.core.errors import LionError
from lion.llm.dispatch import BudgetExceeded
from lion.loop.run_folder import RunFolder
from lion.loop.runner import run_loop
from lion.observe.status import collect, step_names
from run_cli import lion
from small_run import SMALL

CONFIG = Path(__file__).parents[2] / "configs" / "arena.yaml"


def test_a_finished_run(small_run):
    st = collect(small_run)
    cfg = load_config(small_run / "config.yaml")
    assert st["state"] == "finished" and st["eta"] is None and st["last_error"] is None
    assert [s["name"] for s in st["steps"]] == step_names(cfg)
    assert all(s["state"] == "done" and s["seconds"] >= 0 for s in st["steps"])
    assert [it["iteration"] for it in st["iterations"]] == [1, 2]
    summary = json.loads((small_run / "summary.json").read_text())
    for got, want in zip(st["iterations"], summary["iterations"]):
        assert got == want  # status and the loop's summary read the folder the same way
    assert st["spend"] == summary["spend"]

    shown = lion("status", str(small_run), cwd=small_run.parent)
    assert shown.returncode == 0, shown.stderr
    assert f"{small_run}: finished" in shown.stdout
    for word in ("imitation", "discrimination", "generation", "heldout", "LLM spend", "teacher", "referee"):
        assert word in shown.stdout
    as_json = lion("status", str(small_run), "--json", cwd=small_run.parent)
    assert json.loads(as_json.stdout)["iterations"] == json.loads(json.dumps(st["iterations"]))


def test_the_log_keeps_every_message_and_finished_bar(small_run):
    log = (small_run / "lion.log").read_text()
    assert "lion started" in log and "lion finished" in log
    assert "iteration 2" in log and "held-out before training" in log
    assert "iter 1 discrimination: referee:" in log  # a finished bar, with its count and time
    assert not (small_run / "progress.json").exists()


def test_a_stopped_run_names_its_step_and_error_and_a_running_one_reads_as_running(tmp_path):
    out = tmp_path / "run"
    priced = [*SMALL, "referee.price.input_per_mtok=2000", "referee.price.output_per_mtok=4000"]
    with pytest.raises(BudgetExceeded):
        run_loop(load_config(CONFIG, [*priced, "budget.max_usd=20"]), out, lambda m: None)

    st = collect(out)
    assert st["state"] == "stopped"
    stopped = [s for s in st["steps"] if s["state"] == "stopped"]
    assert [s["name"] for s in stopped] == ["1.discrimination"]
    assert st["last_error"]["step"] == "1.discrimination" and "budget" in st["last_error"]["message"]
    assert st["budget_usd"] == 20 and 0 < st["spend"]["total"]["cost_usd"] <= 20
    # 2.imitation takes what 1.imitation took, the held-out steps what `before` took; no
    # discrimination or generation has finished, so those four steps are not timed
    took = {s["name"]: s["seconds"] for s in st["steps"]}
    assert st["eta"]["unknown_steps"] == 4
    assert abs(st["eta"]["seconds"] - (took["1.imitation"] + 2 * took["before"])) <= 1
    shown = lion("status", str(out), cwd=tmp_path)
    assert "stopped, at step 1.discrimination" in shown.stdout
    assert "budget: $" in shown.stdout and "of $20.00 spent" in shown.stdout
    assert "last error" in shown.stdout and "budget.max_usd" in shown.stdout

    holder = RunFolder(out)
    holder.lock()  # as a lion process running the run would
    try:
        st = collect(out)
        assert st["state"] == "running"
        assert [s["name"] for s in st["steps"] if s["state"] == "running"] == ["1.discrimination"]
    finally:
        holder.unlock()


def test_status_reads_without_writing(small_run):
    def files() -> dict:
        # SQLite's -shm file is its readers' shared lock table: every reader touches it
        return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in small_run.rglob("*")
                if p.is_file() and not p.name.endswith("-shm")}

    before = files()
    collect(small_run)
    assert files() == before


def test_not_a_run_folder(tmp_path):
    with pytest.raises(LionError, match="not a run folder"):
        collect(tmp_path)
    shown = lion("status", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert shown.returncode == 2 and "not a run folder (no config.yaml)" in shown.stderr
    assert "Traceback" not in shown.stderr
    assert os.listdir(tmp_path) == []
