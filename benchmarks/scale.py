"""The loop at the paper's shape on the arena, and at 1/16 and 1/4 of it: what our own code costs as a run grows.

The paper's shape: 52,000 seed instructions, three iterations of 6,000 new ones, a held-out set
of 200. Each scale divides the seeds and the new instructions by its factor (the held-out set
stays 200). The student is the arena's tiny one at the cheapest settings that still run every
step (one epoch, answers of at most 12 tokens), since what is measured is our overhead, not
training; the arena plays the four roles in this process, so a step's CPU time holds the
arena's simulated LLM work too.

Each scale is an ordinary `lion run` in its own folder under --out: killed, it resumes where it
stopped when the script is started again, and a finished one is not run again. For each step
kind the script prints the wall time and CPU seconds summed over the run, and the peak
resident memory (`lion status --json`, which reads what each step recorded), the cache's size
on disk, and the time `lion status`, `lion report` and `lion export-data` take on the
finished run. It then prints each step kind's growth from one scale to the next beside the
growth of its work (4x per step), and checks the goals:
  - every step kind grows at most about linearly: no more than 1.25 times its work's growth;
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

SEEDS, NEW, HELDOUT = 52_000, 6_000, 200
CONFIG = Path(__file__).resolve().parents[1] / "configs" / "arena.yaml"
LINEAR = 1.25  # a step kind may grow this much faster than its work and still count as linear
RSS_MB = 4096
VIEW_S = 15.0


def lion(*args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lion", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "LION_QUIET": "1"}, check=False)


def run_at(factor: int, out: Path, threads: int) -> Path:
    """The run at 1/factor of the paper's shape, run (or resumed) to its end."""
    folder = out / f"scale-1-{factor}"
    sets = [f"data.arena_size={SEEDS // factor}", f"loop.new_per_iteration={NEW // factor}", "loop.iterations=3",
            f"evaluation.heldout_size={HELDOUT}", "student.train.epochs=1", "student.train.save_steps=1000000",
            f"threads={threads}"]
    started = time.monotonic()
    done = lion("run", str(CONFIG), "--out", str(folder), *[x for s in sets for x in ("--set", s)])
    if done.returncode != 0:
        raise SystemExit(f"1/{factor}: lion run failed:\n{done.stderr[-2000:]}")
    print(f"1/{factor}: the run ended after {time.monotonic() - started:.0f} s in this call", flush=True)
    return folder


def measure(folder: Path, out: Path) -> dict:
    """Per step kind: wall and CPU seconds; the run's peak memory, cache size, and the views' times."""
    status = json.loads(lion("status", str(folder), "--json").stdout)
    kinds: dict[str, dict[str, float]] = defaultdict(lambda: {"seconds": 0.0, "cpu_s": 0.0})
    rss = 0.0
    for step in status["steps"]:
        kinds[step["kind"]]["seconds"] += step["seconds"] or 0.0
        kinds[step["kind"]]["cpu_s"] += step["cpu_s"] or 0.0
        rss = max(rss, step["peak_rss_mb"] or 0.0)
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
    return {"kinds": dict(kinds), "peak_rss_mb": rss, "cache_mb": cache / 2**20, "views": views}


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
        r = results[factor]
        print(f"1/{factor} ({SEEDS // factor:,} seeds, {NEW // factor:,} new per iteration): peak RSS "
              f"{r['peak_rss_mb']:,.0f} MB, cache {r['cache_mb']:,.1f} MB, " +
              ", ".join(f"{k} {s:.1f} s" for k, s in r["views"].items()), flush=True)
        for kind, t in r["kinds"].items():
            print(f"  {kind:15s} {t['seconds']:9.1f} s wall {t['cpu_s']:9.1f} s CPU", flush=True)
        (args.out / "results.json").write_text(json.dumps(results, indent=2))
    failed = []
    for a, b in zip(args.scales, args.scales[1:]):
        work = a / b
        for kind, t in results[b]["kinds"].items():
            before = results[a]["kinds"].get(kind, {}).get("seconds") or 0.0
            if not before:
                continue
            growth = t["seconds"] / before
            verdict = "ok" if kind == "heldout" or growth <= LINEAR * work else "MISSED"
            print(f"1/{a} -> 1/{b}: {kind:15s} grew {growth:5.1f}x for {work:g}x the work ({verdict})")
            if verdict == "MISSED":
                failed.append(f"{kind} grew {growth:.1f}x from 1/{a} to 1/{b}")
    largest = results[args.scales[-1]]
    if max(r["peak_rss_mb"] for r in results.values()) >= RSS_MB:
        failed.append("peak RSS over 4 GB")
    failed += [f"lion {name} took {s:.1f} s" for name, s in largest["views"].items() if s >= VIEW_S]
    print("goals: " + ("all met" if not failed else "MISSED: " + "; ".join(failed)))


if __name__ == "__main__":
    main()
