"""`lion experiment`: variants and seeds run as ordinary runs, and their scores side by side."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lion.core.config import dump_config, load_config
from lion.core.errors import LionError
from lion.loop.run_folder import RunFolder
from lion.loop.summary import read_summary
from lion.observe.experiment import BUILT_IN, interval, parse_seeds, parse_variant, run_folder
from run_cli import lion
from small_run import SMALL

CONFIGS = Path(__file__).parents[2] / "configs"


def test_variants_are_built_in_names_or_overrides():
    assert parse_variant("lion").overrides == list(BUILT_IN["lion"])
    assert parse_variant("one-way").overrides == ["loop.parents=random"]
    mine = parse_variant("mine=loop.hard_share=0.8 loop.tau=2")
    assert mine.name == "mine" and mine.overrides == ["loop.hard_share=0.8", "loop.tau=2"]
    assert parse_variant("lion=loop.tau=2").overrides == [*BUILT_IN["lion"], "loop.tau=2"]
    for bad in ("nope", "a b=loop.tau=2", "x=loop.tau"):
        with pytest.raises(LionError):
            parse_variant(bad)
    assert parse_seeds("1, 2,3") == [1, 2, 3]
    for bad in ("", "1,x", "1,1"):
        with pytest.raises(LionError):
            parse_seeds(bad)


def test_every_built_in_variant_is_a_valid_config_as_the_docs_list_it():
    for overrides in BUILT_IN.values():
        load_config(CONFIGS / "arena.yaml", list(overrides))
    page = (CONFIGS.parent / "docs" / "evaluation.md").read_text(encoding="utf-8")
    listed = {name: tuple(sets.split()) for name, sets in re.findall(r"^\| `([a-z-]+)` \| `([^`]+)` \|", page, re.M)}
    assert listed == BUILT_IN


def test_interval_is_the_t_interval_over_seeds():
    assert interval([1.0, 2.0, 3.0]) == {"n": 3, "mean": 2.0, "low": -0.48, "high": 4.48}  # t(0.975, 2) = 4.303
    assert interval([5.0]) == {"n": 1, "mean": 5.0, "low": None, "high": None}


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def wait_for(ready, what: str, proc: subprocess.Popen, timeout_s: float = 120) -> None:
    """Poll until `ready()`; fail, instead of hanging, if `proc` ends first or time runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        ended = proc.poll() is not None  # read before `ready`, so a last write before the exit counts
        if ready():
            return
        if ended:
            pytest.fail(f"the process ended (exit code {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            proc.terminate()
            proc.wait(timeout=60)
            pytest.fail(f"no sign of {what} after {timeout_s:g} s")
        time.sleep(0.2)


def test_an_experiment_runs_each_variant_on_each_seed_and_resumes(tmp_path):
    config = tmp_path / "small.yaml"
    small = [*SMALL, "loop.iterations=1", "data.arena_size=40", "evaluation.heldout_size=20"]
    config.write_text(dump_config(load_config(CONFIGS / "arena.yaml", small)))
    out = tmp_path / "exp"
    args = ["experiment", str(config), "--out", str(out), "--variant", "one-way",
            "--variant", "mine=loop.parents=referee-even loop.hard_share=1.0", "--seeds", "1,2", "--jobs", "2"]
    # stopped part-way (SIGTERM), it stops its runs too: none is left holding its folder
    started = subprocess.Popen([sys.executable, "-m", "lion", *args], cwd=tmp_path, env={**os.environ, "LION_QUIET": "1"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: any(RunFolder.looks_like_run(p) for p in out.glob("*/seed-*")), "a run starting", started)
    started.send_signal(signal.SIGTERM)
    assert started.wait(timeout=60) != 0
    assert not [p for p in Path("/proc").glob("[0-9]*") if str(out) in _cmdline(p)]
    r = lion(*args, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    results = json.loads((out / "results.json").read_text())
    assert set(results["table"]) == {"one-way", "mine"}
    for seed in (1, 2):
        runs = {v: RunFolder(run_folder(out, v, seed)) for v in results["table"]}
        # the same seed: the same seed pool and the same untrained student for every variant
        pools = {run.pools(0).train.read_text() for run in runs.values()}
        assert len(pools) == 1
        before = {json.dumps(results["runs"][v][str(seed)][0]) for v in runs}
        assert len(before) == 1
        # one-way asks no referee; the others do
        assert not runs["one-way"].iteration(1).discrimination.root.exists()
        shown = lion("status", str(runs["one-way"].root), cwd=tmp_path)
        assert shown.returncode == 0 and "discrimination" not in shown.stdout
        assert runs["mine"].iteration(1).discrimination.split.exists()
        new = [json.loads(line) for line in runs["one-way"].pools(1).train.read_text().splitlines()]
        assert len(new) == 20
    seeded = [RunFolder(run_folder(out, "one-way", seed)).pools(0).train.read_text() for seed in (1, 2)]
    assert seeded[0] != seeded[1]
    # every variant learned from as many examples at each iteration
    examples = {tuple(r["examples"] for r in rows) for rows in results["table"].values()}
    assert len(examples) == 1
    md = (out / "results.md").read_text()
    assert "| one-way |" in md and "| mine |" in md and "Against the baselines" in md
    assert (out / "scores.png").stat().st_size > 5000

    # started again: nothing is redone, the results are the same; priced at openai.yaml's roles,
    # each run's loop calls cost its counted tokens at gpt-4o-mini's and gpt-4o's list prices
    again = lion(*args, "--price-at", str(CONFIGS / "openai.yaml"), cwd=tmp_path, timeout=120)
    assert again.returncode == 0, again.stderr
    priced = json.loads((out / "results.json").read_text())
    assert {k: v for k, v in priced.items() if k != "cost"} == results
    per_mtok = {"teacher": (0.15, 0.60), "referee": (2.50, 10.00), "generator": (0.15, 0.60)}
    for variant in ("one-way", "mine"):
        totals = []
        for seed in (1, 2):
            by_role = read_summary(RunFolder(run_folder(out, variant, seed))).spend.by_role
            usd = {r: (by_role[r].prompt_tokens * i + by_role[r].completion_tokens * o) / 1e6 if r in by_role else 0.0
                   for r, (i, o) in per_mtok.items()}
            totals.append(sum(usd.values()))
        cost = priced["cost"]["variants"][variant]
        assert cost["total"]["mean"] == pytest.approx(sum(totals) / 2, abs=1e-6) and cost["total"]["low"] is not None
    assert priced["cost"]["variants"]["one-way"]["referee"]["mean"] == 0 < priced["cost"]["variants"]["mine"]["referee"]["mean"]
    assert "## What the loop's LLM calls would cost" in (out / "results.md").read_text()
    # the same folder for another experiment is refused in one sentence
    other = lion(*args[:-4], "--seeds", "3", cwd=tmp_path, timeout=60)
    assert other.returncode == 2 and "holds an experiment with other variants" in other.stderr
