import io
import json
import os
import sqlite3
import time
from pathlib import Path

import pytest
from rich.console import Console

from lion.core import atomic
from lion.core.config import dump_config, load_config
from lion.core.errors import LionError
from lion.core.records import Instruction, write_jsonl
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
    # 2.imitation and the closing 3.imitation take what 1.imitation took per example (60 seeds, then
    # 20 more each iteration: 80 and 100), the held-out steps what `before` took; no discrimination
    # or generation has finished, so those four steps are not timed and the figure is a floor
    took = {s.name: s.seconds for s in st.steps}
    assert st.eta.unknown_steps == 4 and st.eta.unknown_kinds == ["discrimination", "generation"] and st.eta.at_least
    assert abs(st.eta.seconds - (took["1.imitation"] * (80 + 100) / 60 + 3 * took["before"])) <= 1
    shown = lion("status", str(out), cwd=tmp_path)
    assert "stopped, at step 1.discrimination" in shown.stdout
    assert "time left unknown until discrimination and generation have each finished once" in shown.stdout
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


def _timed_run(root: Path, times: dict[str, tuple[float, float]], current: str | None,
               resumed: tuple[str, ...] = ()) -> RunFolder:
    """A run folder written by hand, as a run leaves it two iterations in (60 seeds, 20 new
    instructions an iteration, no held-out set): `times` gives each done step's start and
    seconds, `current` the step begun last, not done, and `resumed` the steps that finished
    only after a resume."""
    cfg = load_config(CONFIG, [*SMALL, "evaluation.heldout=none"])
    run = RunFolder(root)
    root.mkdir()
    atomic.write_text(run.config_path, dump_config(cfg))
    seeds = [Instruction.make(f"Describe the number {j} in words.") for j in range(60)]
    new = [Instruction.make(f"Spell the number {j} backwards.") for j in range(20)]
    write_jsonl(run.pools(0).train, seeds)
    write_jsonl(run.pools(0).cache, seeds)
    write_jsonl(run.pools(1).train, new)
    write_jsonl(run.pools(1).cache, seeds + new)
    entries = {name: {"started": start, "finished": start + took, **({"resumed": True} if name in resumed else {})}
               for name, (start, took) in times.items()}
    if current:
        entries[current] = {"started": time.time() - 30}
    atomic.write_json(run.state_path, {"done": list(times), "current": current, "times": entries, "last_error": None})
    return run


def _headline(st) -> str:
    out = io.StringIO()
    show(st, Console(file=out, width=400))
    return out.getvalue().splitlines()[0]


# iteration 1 took 30 s to train on 60 examples, 12 s to judge 60 and 5 s to write 20
ITERATION_1 = {"setup": 1.0, "1.imitation": 30.0, "1.discrimination": 12.0, "1.generation": 5.0}


def _times(seconds: dict[str, float]) -> dict[str, tuple[float, float]]:
    now = time.time() - 1000
    return {name: (now + 100 * j, took) for j, (name, took) in enumerate(seconds.items())}


def test_the_time_left_scales_each_step_by_its_work_and_takes_the_running_bar(tmp_path):
    run = _timed_run(tmp_path / "run", _times(ITERATION_1), "2.imitation")
    now = time.time()
    # the running step's bar: 40 of 120 training steps in 20 s, so 40 s to go at its rate, where
    # 1.imitation's time, scaled to this imitation's 80 examples, leaves only 40 - 30 s
    atomic.write_json(run.progress_path, {"label": "training the student", "done": 40, "total": 120, "info": "",
                                          "started": now - 20, "updated": now, "line": "training the student: 40/120"})
    run.lock()  # as the lion process running it would
    try:
        st = collect(run.root)
    finally:
        run.unlock()
    assert st.state == "running"
    # 2.discrimination judges the 80 of the Cache Pool (12 s per 60), 2.generation writes 20 again,
    # the closing imitation trains on all 100 (30 s per 60)
    assert (st.eta.current_s, st.eta.unknown_steps, st.eta.at_least) == (40, 0, False)
    assert abs(st.eta.seconds - (40 + 16 + 5 + 50)) <= 1
    assert "running, at step 2.imitation for 30s; about 1m51s of work left (40s of it this step)" in _headline(st)


def test_a_stopped_run_counts_its_stopped_step_whole_and_not_its_dead_bar(tmp_path):
    run = _timed_run(tmp_path / "run", _times(ITERATION_1), "2.imitation")
    now = time.time()
    # a killed process leaves its last bar behind
    atomic.write_json(run.progress_path, {"label": "training the student", "done": 119, "total": 120, "info": "",
                                          "started": now - 500, "updated": now - 400, "line": ""})
    st = collect(run.root)
    assert st.state == "stopped" and st.current is None
    assert (st.eta.current_s, st.eta.seconds, st.eta.at_least) == (None, 40 + 16 + 5 + 50, False)
    assert "stopped, at step 2.imitation; about 1m51s of work left" in _headline(st)


def test_a_step_timed_only_after_a_resume_gives_a_floor_and_a_whole_one_is_preferred(tmp_path):
    # 1.generation finished only after a resume: its 5 s are that session's share
    run = _timed_run(tmp_path / "one", _times(ITERATION_1), "2.imitation", resumed=("1.generation",))
    st = collect(run.root)
    assert (st.eta.seconds, st.eta.at_least) == (40 + 16 + 5 + 50, True)
    assert "stopped, at step 2.imitation; at least 1m51s of work left" in _headline(st)

    # a later imitation that finished only after a resume (2 s) does not stand for the kind
    later = {**ITERATION_1, "2.imitation": 2.0, "2.discrimination": 16.0}
    run = _timed_run(tmp_path / "two", _times(later), "2.generation", resumed=("2.imitation",))
    st = collect(run.root)
    assert (st.eta.seconds, st.eta.at_least) == (5 + 50, False)
