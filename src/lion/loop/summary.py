"""What a run folder says about each iteration, read from the steps' own outputs.

The loop's summary, `lion status` and `lion report` all read a run through here, so they agree,
and each works on a run that is still going (or was killed): a step not yet done reads as None.
"""

from __future__ import annotations

import json
from pathlib import Path

from lion.core import atomic
from lion.llm.cache import ResponseCache, add_usage
from lion.loop.run_folder import RunFolder

STEPS = ("imitation", "discrimination", "generation", "heldout")


def load_json(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def count_lines(path: Path) -> int | None:
    if not path.exists():
        return None
    with path.open(encoding="utf-8") as f:
        return sum(1 for line in f if line.strip())


def iteration_facts(run: RunFolder, k: int, by_step: dict[str, dict]) -> dict:
    """Iteration k's pools, split, generation, held-out scores, failures and spend so far."""
    d = run.iteration_dir(k)
    disc = load_json(d / "discrimination" / "stats.json") or {}
    gen = load_json(d / "generation" / "stats.json") or {}
    pools = run.pools_dir(k - 1)
    return {
        "iteration": k,
        "train_pool": count_lines(pools / "train.jsonl"),
        "cache_pool": count_lines(pools / "cache.jsonl"),
        "hard": disc.get("hard"),
        "easy": disc.get("easy"),
        "failed_judgements": disc.get("failed"),
        "mean_d": disc.get("mean_d"),
        "generated": gen.get("generated"),
        "kept": gen.get("kept"),
        "kept_from_hard": gen.get("kept_from_hard"),
        "kept_from_easy": gen.get("kept_from_easy"),
        "dropped": gen.get("dropped"),
        "notes": gen.get("notes"),
        "heldout": load_json(d / "heldout.json"),
        "spend": iteration_spend(by_step, k),
        "position_bias": load_json(d / "discrimination" / "bias.json"),
        "failed_items": {
            step: n for step in ("imitation", "discrimination")
            if (n := count_lines(d / step / "failed.jsonl"))
        },
    }


def iteration_spend(by_step: dict[str, dict], k: int) -> dict:
    out: dict = {}
    for step, row in by_step.items():
        if step.startswith(f"{k}."):
            add_usage(out, row)
    return out


def summarize(run: RunFolder, iterations: int, cache: ResponseCache) -> dict:
    """Rebuild summary.json from the step outputs and the cache, so it is right after any resume."""
    usage = cache.spend()
    summary = {"before": load_json(run.root / "heldout" / "before.json"), "iterations": [], "spend": usage}
    for k in range(1, iterations + 1):
        if not run.is_done(f"{k}.generation"):
            break
        summary["iterations"].append(iteration_facts(run, k, usage["by_step"]))
    atomic.write_json(run.root / "summary.json", summary)
    return summary

