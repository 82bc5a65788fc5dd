import io
import json
import os
import sqlite3
from pathlib import Path

import pytest
from rich.console import Console

from lion.core.config import load_config
from lion.core.errors import LionError
from lion.llm.dispatch import BudgetExceeded
from lion.loop.run_folder import RunFolder
from lion.loop.runner import run_loop
from lion.observe.status import collect, show
from run_cli import lion
from small_run import SMALL

CONFIG = Path(__file__).parents[2] / "configs" / "arena.yaml"


def _lines(path: Path) -> int:
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def test_a_finished_run(small_run):
    st = collect(small_run)
    assert st.state == "finished" and st.eta is None and st.last_error is None
    assert [s.name for s in st.steps] == ["setup", "before", "1.imitation", "1.discrimination", "1.generation",
                                          "1.heldout", "2.imitation", "2.discrimination", "2.generation", "2.heldout",
                                          "3.imitation", "3.heldout"]
    assert all(s.state == "done" and s.seconds >= 0 for s in st.steps)
    # each step's CPU split: training and answering are the student's, the LLM roles the arena's
    steps = {s.name: s for s in st.steps}
    assert steps["1.imitation"].student_cpu_s > 0.5 and steps["1.discrimination"].arena_cpu_s > 0
    assert steps["1.generation"].student_cpu_s == 0 and steps["1.generation"].arena_cpu_s > 0
    assert all(s.student_cpu_s + s.arena_cpu_s <= s.cpu_s + 0.05 for s in st.steps)

    # each figure against the files the steps wrote, counted here
    run = RunFolder(small_run)
    first, second, closing = st.iterations
    seeds, new = _lines(run.pools(0).train), _lines(run.iteration(1).generation.new_instructions)
    assert (first.train_pool, first.cache_pool) == (seeds, seeds)
    assert (second.train_pool, second.cache_pool) == (new, seeds + new) and first.kept == new
    # the closing imitation trains on the last generation's instructions: the teacher answered all of them
    newer = _lines(run.iteration(2).generation.new_instructions)
    assert (closing.closing, closing.train_pool, closing.cache_pool, closing.hard, closing.kept) == (
        True, newer, seeds + new + newer, None, None)
    assert _lines(run.iteration(3).imitation.teacher_answers) == newer and closing.heldout is not None
    split = [json.loads(line) for line in run.iteration(1).discrimination.split.read_text().splitlines()]
    assert (first.hard, first.easy) == (sum(r["hard"] for r in split), sum(not r["hard"] for r in split))
    assert first.hard + first.easy + (first.failed_judgements or 0) == first.cache_pool
    assert second.heldout.relative_score == json.loads(run.iteration(2).heldout.scores.read_text())["relative_score"]
    db = sqlite3.connect(run.cache_path)
    try:
        assert st.spend.total.calls == db.execute("SELECT COUNT(*) FROM responses WHERE role != ''").fetchone()[0]
        assert second.spend.calls == db.execute("SELECT COUNT(*) FROM responses WHERE stage LIKE '2.%'").fetchone()[0]
    finally:
        db.close()

    shown = lion("status", str(small_run), cwd=small_run.parent)
    assert shown.returncode == 0, shown.stderr
    assert f"{small_run}: finished" in shown.stdout
    for word in ("imitation", "discrimination", "generation", "heldout", "LLM spend", "teacher", "referee"):
        assert word in shown.stdout
    as_json = json.loads(lion("status", str(small_run), "--json", cwd=small_run.parent).stdout)
    assert [it["hard"] for it in as_json["iterations"]] == [first.hard, second.hard, None]
    assert "3 (closing)" in shown.stdout
    assert as_json["spend"]["total"]["calls"] == st.spend.total.calls


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
    assert st.state == "stopped"
    stopped = [s for s in st.steps if s.state == "stopped"]
    assert [s.name for s in stopped] == ["1.discrimination"]
    assert st.last_error["step"] == "1.discrimination" and "budget" in st.last_error["message"]
    assert st.budget_usd == 20 and 0 < st.spend.total.cost_usd <= 20
    # 2.imitation and the closing 3.imitation take what 1.imitation took, the held-out steps what
    # `before` took; no discrimination or generation has finished, so those four steps are not timed
    took = {s.name: s.seconds for s in st.steps}
    assert st.eta.unknown_steps == 4
    assert abs(st.eta.seconds - (2 * took["1.imitation"] + 3 * took["before"])) <= 1
    shown = lion("status", str(out), cwd=tmp_path)
    assert "stopped, at step 1.discrimination" in shown.stdout
    assert "budget: $" in shown.stdout and "of $20.00 spent" in shown.stdout
    assert "last error" in shown.stdout and "budget.max_usd" in shown.stdout

    holder = RunFolder(out)
    holder.lock()  # as a lion process running the run would
    try:
        st = collect(out)
        assert st.state == "running"
        assert [s.name for s in st.steps if s.state == "running"] == ["1.discrimination"]
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


def test_status_says_when_a_split_says_nothing(judged_run):
    root = judged_run(1, 59)  # the referee on the Cache Pool, as configs/arena.yaml judges it
    st = collect(root)
    sentence = ("iteration 1's split is 1 hard of 60 judged, so the hard side's half of the generator's budget "
                "(loop.hard_share 0.5) goes to 1 parent: lower loop.tau, or judge instructions the student has not "
                "trained on (loop.judged: held_back).")
    assert st.state == "stopped" and (st.iterations[0].hard, st.iterations[0].easy) == (1, 59)
    assert st.split_warnings == [sentence]
    out = io.StringIO()
    show(st, Console(file=out, width=400))
    assert sentence in out.getvalue()


def test_status_says_nothing_of_a_split_that_says_something(judged_run):
    st = collect(judged_run(20, 40, "loop.signal=student_loss", "loop.judged=held_back"))
    assert st.split_warnings == [] and st.iterations[0].mean_ifd is not None
    out = io.StringIO()
    show(st, Console(file=out, width=400))
    assert "split is" not in out.getvalue() and "mean IFD" in out.getvalue()
