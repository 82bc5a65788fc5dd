"""The loop at the paper's shape on the arena, and at 1/16 and 1/4 of it: what our own code costs as a run grows.

The paper's shape: 52,000 seed instructions, three iterations of 6,000 new ones, a held-out set
of 200. Each scale divides the seeds and the new instructions by its factor (the held-out set
stays 200). The arena writes in its wide register (`data.arena_frames: wide`): in the standard
one, a 52K pool leaves almost no new question under ROUGE-L 0.7 and the pool would not grow.
The student is the arena's tiny one at the cheapest settings that still run every step (one
epoch, answers of at most 12 tokens), since what is measured is our overhead, not training.

Each scale is an ordinary `lion run` in its own folder under --out: killed, it resumes where it
stopped when the script is started again, and a finished one is not run again. For each step
kind the script prints, summed over the run, the wall time, the CPU seconds and how they split
(`lion status --json`, which reads what each step recorded): the student's (training,
answering), the arena's (the LLM roles it plays in this process, standing in for the API) and
ours (the rest); and the step kind's work: examples trained, items judged, generator replies
screened. It prints the student's answering cost per answer, the peak resident memory, the
cache's size on disk, and the time `lion status`, `lion report` and `lion export-data` take on
the finished run. It then prints each step kind's growth from one scale to the next beside the
growth of its work, and checks the goals:
  - every step kind's own CPU (ours) and its wall time grow at most about linearly in its work:
    no more than 1.25 times the work's growth (ours is not checked where it is under 2 s);
  - the run's peak resident memory stays under 4 GB;
  - status, report and export-data each take under 15 s on the largest run.

    python benchmarks/scale.py [--scales 16 4 1] [--out runs/scale] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from lion.loop.run_folder import RunFolder
from lion.loop.stage_results import DiscriminationResult, GenerationResult, ImitationResult, read_result

SEEDS, NEW, HELDOUT = 52_000, 6_000, 200
CONFIG = Path(__file__).resolve().parents[1] / "configs" / "arena.yaml"
LINEAR = 1.25  # a step kind may grow this much faster than its work and still count as linear
SMALL_S = 2.0  # our part of a step kind under this many seconds is too small to take a ratio of
RSS_MB = 4096
VIEW_S = 15.0


def lion(*args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lion", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "LION_QUIET": "1"}, check=False)


def run_at(factor: int, out: Path, threads: int) -> Path:
    """The run at 1/factor of the paper's shape, run (or resumed) to its end."""
    folder = out / f"scale-1-{factor}"
    sets = [f"data.arena_size={SEEDS // factor}", "data.arena_frames=wide", f"loop.new_per_iteration={NEW // factor}", "loop.iterations=3",
            f"evaluation.heldout_size={HELDOUT}", "student.train.epochs=1", "student.train.save_steps=1000000",
            f"threads={threads}"]
    started = time.monotonic()
    done = lion("run", str(CONFIG), "--out", str(folder), *[x for s in sets for x in ("--set", s)])
    if done.returncode != 0:
        raise SystemExit(f"1/{factor}: lion run failed:\n{done.stderr[-2000:]}")
    print(f"1/{factor}: the run ended after {time.monotonic() - started:.0f} s in this call", flush=True)
    return folder


def work(run: RunFolder, kind: str, k: int) -> int | None:
    """What the step had to do: examples trained, items judged, generator replies screened."""
    files = run.iteration(k)
    if kind == "imitation":
        done = read_result(files.imitation.train_stats, ImitationResult)
        return done and done.examples
    if kind == "discrimination":
        done = read_result(files.discrimination.stats, DiscriminationResult)
        return done and done.judged + done.failed
    if kind == "generation":
        done = read_result(files.generation.stats, GenerationResult)
        return done and done.generated
    return None


def measure(folder: Path, out: Path) -> dict:
    """Per step kind: wall and CPU seconds, the CPU's split and the work; the run's peak memory,
    cache size, and the views' times."""
    status = json.loads(lion("status", str(folder), "--json").stdout)
    run = RunFolder(folder)
    kinds: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    rss = 0.0
    for step in status["steps"]:
        t = kinds[step["kind"]]
        for field in ("seconds", "cpu_s", "student_cpu_s", "arena_cpu_s"):
            t[field] += step[field] or 0.0
        t["work"] += work(run, step["kind"], step["iteration"]) or 0
        rss = max(rss, step["peak_rss_mb"] or 0.0)
    for t in kinds.values():
        t["ours_s"] = t["cpu_s"] - t["student_cpu_s"] - t["arena_cpu_s"]
    cache = sum(p.stat().st_size for p in folder.glob("cache.sqlite*"))
    views = {}
    exported = out / f"{folder.name}-export"
    shutil.rmtree(exported, ignore_errors=True)
    for name, args in (("status", ["status", str(folder)]), ("report", ["report", str(folder)]),
                       ("export-data", ["export-data", str(folder), "--out", str(exported)])):
        start = time.monotonic()
        done = lion(*args)
        if done.returncode != 0:
            raise SystemExit(f"lion {name} failed on {folder}:\n{done.stderr[-2000:]}")
        views[name] = time.monotonic() - start
    pool = status["iterations"][-1]["cache_pool"]  # the closing iteration's: seeds and every kept instruction
    return {"kinds": {k: dict(v) for k, v in kinds.items()}, "peak_rss_mb": rss, "cache_mb": cache / 2**20,
            "views": views, "final_pool": pool}


def show(factor: int, r: dict) -> None:
    print(f"1/{factor} ({SEEDS // factor:,} seeds, {NEW // factor:,} new per iteration; final Cache Pool "
          f"{r['final_pool'] or 0:,}): peak RSS {r['peak_rss_mb']:,.0f} MB, cache {r['cache_mb']:,.1f} MB, " +
          ", ".join(f"{k} {s:.1f} s" for k, s in r["views"].items()), flush=True)
    print(f"  {'step':15s} {'wall s':>8s} {'CPU s':>8s} {'student':>8s} {'arena':>8s} {'ours':>8s} {'work':>8s}")
    for kind, t in r["kinds"].items():
        print(f"  {kind:15s} {t['seconds']:8.1f} {t['cpu_s']:8.1f} {t['student_cpu_s']:8.1f} {t['arena_cpu_s']:8.1f} "
              f"{t['ours_s']:8.1f} {t['work']:8,.0f}", flush=True)
    judged = r["kinds"].get("discrimination", {})
    if judged.get("work"):
        print(f"  the student answered {judged['work']:,.0f} pool instructions in {judged['student_cpu_s']:,.0f} CPU s "
              f"({1000 * judged['student_cpu_s'] / judged['work']:.1f} ms each)")


def growth(a: int, b: int, results: dict[int, dict]) -> list[str]:
    """Each step kind's growth from 1/a to 1/b beside its work's; the goals it missed."""
    missed = []
    for kind, t in results[b]["kinds"].items():
        before = results[a]["kinds"].get(kind)
        if not before or not before["work"] or not t["work"]:
            continue
        work = t["work"] / before["work"]
        wall, ours = t["seconds"] / before["seconds"], t["ours_s"] / max(before["ours_s"], 1e-9)
        small = t["ours_s"] < SMALL_S
        bad = [name for name, g in (("wall", wall), ("ours", ours)) if g > LINEAR * work and not (name == "ours" and small)]
        per_item = [1000 * r["ours_s"] / r["work"] for r in (before, t)]
        print(f"1/{a} -> 1/{b}: {kind:15s} work {work:5.1f}x, wall {wall:5.1f}x, ours {ours:5.1f}x "
              f"({per_item[0]:.2f} -> {per_item[1]:.2f} ms per unit of work)"
              f"{' (ours under 2 s: not checked)' if small else ''} ({'MISSED' if bad else 'ok'})")
        missed += [f"{kind} {name} grew {wall if name == 'wall' else ours:.1f}x for {work:.1f}x the work "
                   f"from 1/{a} to 1/{b}" for name in bad]
    return missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[16, 4, 1], help="divisors of the paper's shape")
    parser.add_argument("--out", type=Path, default=Path("runs/scale"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[int, dict] = {}
    for factor in args.scales:
        results[factor] = measure(run_at(factor, args.out, args.threads), args.out)
        show(factor, results[factor])
        (args.out / "results.json").write_text(json.dumps(results, indent=2))
    failed = []
    for a, b in zip(args.scales, args.scales[1:]):
        failed += growth(a, b, results)
    largest = results[args.scales[-1]]
    if max(r["peak_rss_mb"] for r in results.values()) >= RSS_MB:
        failed.append("peak RSS over 4 GB")
    failed += [f"lion {name} took {s:.1f} s" for name, s in largest["views"].items() if s >= VIEW_S]
    print("goals: " + ("all met" if not failed else "MISSED: " + "; ".join(failed)))


if __name__ == "__main__":
    main()
