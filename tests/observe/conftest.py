import time
from pathlib import Path

import pytest

from lion.core import atomic
from lion.core.config import dump_config, load_config
from lion.core.records import Instruction, Response, SplitRecord, write_jsonl
from lion.loop.run_folder import RunFolder
from lion.loop.stage_results import DiscriminationResult


@pytest.fixture
def judged_run(tmp_path):
    """A run folder stopped after iteration 1's discrimination, written by hand in no time (no
    model, no LLM): `make(hard, easy, *overrides)` judges hard + easy instructions of two kinds,
    the referee's way (d, both scores, the student's answers) or, with loop.signal=student_loss,
    the student's (loss, loss alone and IFD, no student answer), and returns the folder."""

    def make(hard: int, easy: int, *overrides: str) -> Path:
        cfg = load_config(None, ["threads=1", "evaluation.heldout=none", "loop.iterations=1", *overrides])
        run = RunFolder(tmp_path / "run")
        run.root.mkdir()
        atomic.write_text(run.config_path, dump_config(cfg))
        now = time.time()
        done = ["setup", "1.imitation", "1.discrimination"]
        atomic.write_json(run.state_path, {"done": done, "current": None, "last_error": None,
                                           "times": {s: {"started": now, "finished": now + 1} for s in done}})
        pool = [Instruction.make(f"Describe the number {j} in words.", category="odd" if j % 2 else "even")
                for j in range(hard + easy)]
        for path in (run.pools(0).train, run.pools(0).cache):
            write_jsonl(path, pool)
        files = run.iteration(1).discrimination
        write_jsonl(files.teacher_answers, [Response(id=it.id, instruction=it.instruction, text=f"The teacher on {j}.")
                                            for j, it in enumerate(pool)])
        # the first `hard` are hard: the referee's largest gaps, or the highest IFDs
        if cfg.loop.hardness.calls_referee:
            split = [SplitRecord(id=it.id, hard=j < hard, teacher_score=8.0, student_score=8.0 - d, d=d)
                     for j, it in enumerate(pool) for d in [cfg.loop.tau + 1 + j % 3 if j < hard else 0.0]]
            write_jsonl(files.student_answers, [Response(id=it.id, instruction=it.instruction, text=f"The student on {j}.")
                                                for j, it in enumerate(pool)])
        else:
            split = [SplitRecord(id=it.id, hard=j < hard, loss=1.0 - j / 100, loss_alone=2.0, ifd=(1.0 - j / 100) / 2.0)
                     for j, it in enumerate(pool)]
        write_jsonl(files.split, split)
        write_jsonl(files.failed, [])
        DiscriminationResult(judged=len(split), hard=hard, easy=easy, failed=0,
                             mean_d=_mean([r.d for r in split]), mean_ifd=_mean([r.ifd for r in split])).write(files.stats)
        return run.root

    return make


def _mean(values):
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None
