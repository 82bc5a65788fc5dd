"""Ctrl-C on `lion run`: a real process, sent SIGINT while it trains, says where it stopped and
how to resume, exits 130, and the same command then finishes the run from where it stopped."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from run_cli import lion
from small_run import SMALL

CONFIG = Path(__file__).parents[1] / "configs" / "arena.yaml"
# one iteration, trained long enough (48 optimizer steps, a checkpoint every 2) to be caught mid-training
SETS = [a for s in [*SMALL, "loop.iterations=1", "student.train.epochs=12"] for a in ("--set", s)]


def _training_at(progress: Path, steps: int) -> bool:
    """Whether the run's live bar is the student's training, at least `steps` optimizer steps in."""
    try:
        bar = json.loads(progress.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # not written yet, or replaced as we read
        return False
    return bar["label"] == "training the student" and bar["done"] >= steps


def _interrupt_while_training(args: list[str], cwd: Path, progress: Path) -> subprocess.CompletedProcess:
    """Start `lion ARGS`, send it SIGINT (what Ctrl-C sends) once training is a few steps in."""
    env = {**os.environ, "LION_QUIET": "1", "COLUMNS": "200"}
    proc = subprocess.Popen([sys.executable, "-m", "lion", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while not _training_at(progress, 6):
        assert proc.poll() is None, f"lion ended before training: {proc.communicate()}"
        assert time.monotonic() < deadline, "training never began"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_ctrl_c_says_where_the_run_stopped_and_the_same_command_resumes_it(tmp_path):
    args = ["run", str(CONFIG), "--out", "run", *SETS]
    run = tmp_path / "run"
    stopped = _interrupt_while_training(args, tmp_path, run / "progress.json")

    assert stopped.returncode == 130, stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert "interrupted in iter-01 imitation (training the student: " in stopped.stderr
    assert "Nothing finished is lost: every LLM answer is cached" in stopped.stderr
    command = "python -m lion " + " ".join(args)  # nothing in these arguments needs quoting
    assert f"To resume, run the same command again: {command}\n" in stopped.stderr
    log = (run / "lion.log").read_text(encoding="utf-8")
    assert "interrupted in iter-01 imitation" in log and command in log
    state = json.loads((run / "state.json").read_text(encoding="utf-8"))
    assert state["current"] == "1.imitation" and state["last_error"]["message"] == "interrupted"

    resumed = lion(*args, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "run folder: run" in resumed.stdout
    state = json.loads((run / "state.json").read_text(encoding="utf-8"))
    assert state["current"] is None and state["done"][-1] == "2.heldout"
    # the training went on from a checkpoint of the interrupted one, not from the start
    assert json.loads((run / "iter-01" / "imitation" / "train.json").read_text())["resumed_at_step"] > 0
    # and loading that checkpoint of a student with tied embeddings raised no false alarm
    assert "missing keys" not in resumed.stderr

