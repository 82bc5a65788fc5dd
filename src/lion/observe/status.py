"""Where a run stands: its steps, pools, splits, spend against the budget, failures and ETA.

Read-only: it takes no lock and writes nothing, so it can watch a run that is going on in
another process (or on another machine sharing the folder).
"""

from __future__ import annotations

import time
from pathlib import Path

from lion.core.config import RunConfig, load_config
from lion.core.errors import LionError
from lion.core.progress import duration
from lion.llm.cache import ResponseCache
from lion.loop.run_folder import RunFolder
from lion.loop.summary import STEPS, iteration_facts, load_json


def step_names(cfg: RunConfig) -> list[str]:
    """Every step of the run, in the order the loop takes them."""
    evaluate = cfg.evaluation.heldout != "none"
    names = ["setup"] + (["before"] if evaluate else [])
    for k in range(1, cfg.loop.iterations + 1):
        names += [f"{k}.{s}" for s in STEPS if (evaluate or s != "heldout")
                  and (cfg.loop.uses_referee or s != "discrimination")]
    return names


def open_run(root: Path) -> tuple[RunFolder, RunConfig]:
    if not (root / "config.yaml").exists():
        raise LionError(f"{root}: not a run folder (no config.yaml).")
    return RunFolder(root), load_config(root / "config.yaml")


def run_spend(run: RunFolder) -> dict:
    if not run.cache_path.exists():
        return {"total": {}, "by_role": {}, "by_step": {}}
    cache = ResponseCache(run.cache_path, read_only=True)
    try:
        return cache.spend()
    finally:
        cache.close()


def _kind(step: str) -> str:
    """What a step does: `2.imitation` is an imitation; `before` scores the untrained student
    as every `K.heldout` scores a trained one."""
    return "heldout" if step == "before" else step.partition(".")[2] or step


def _eta(steps: list[dict], now: float) -> dict:
    """Seconds left, each step not done taking what the latest finished step of its kind took.

    Pools grow from one iteration to the next, so this leans low; `unknown` counts the steps
    of a kind that has not finished once yet.
    """
    took: dict[str, float] = {}
    for s in steps:
        if s["seconds"] is not None and s["state"] == "done":
            took[_kind(s["name"])] = s["seconds"]
    left, unknown = 0.0, 0
    for s in steps:
        if s["state"] == "done":
            continue
        guess = took.get(_kind(s["name"]))
        if guess is None:
            unknown += 1
            continue
        if s["state"] == "running":
            guess = max(guess - (now - s["started"]), 0.0)
        left += guess
    return {"seconds": round(left), "unknown_steps": unknown}


def collect(root: Path) -> dict:
    """Everything `lion status` shows, as data (also its `--json`)."""
    run, cfg = open_run(Path(root))
    state = run.state()
    running = run.in_use()
    now = time.time()
    steps = []
    for name in step_names(cfg):
        times = state["times"].get(name, {})
        if name in state["done"]:
            st = "done"
        elif name == state["current"]:
            st = "running" if running else "stopped"
        else:
            st = "pending"
        started, finished = times.get("started"), times.get("finished")
        seconds = finished - started if started and finished else (now - started if st == "running" and started else None)
        steps.append({"name": name, "state": st, "started": started, "seconds": seconds})
    spend = run_spend(run)
    iterations = [
        iteration_facts(run, k, spend["by_step"])
        for k in range(1, cfg.loop.iterations + 1)
        if any(s["name"].startswith(f"{k}.") and s["state"] != "pending" for s in steps)
    ]
    finished = all(s["state"] == "done" for s in steps)
    return {
        "run": str(root),
        "state": "running" if running else "finished" if finished else "stopped",
        "iterations_planned": cfg.loop.iterations,
        "steps": steps,
        "current": load_json(run.progress_path) if running else None,
        "before": load_json(run.root / "heldout" / "before.json"),
        "iterations": iterations,
        "spend": spend,
        "budget_usd": cfg.budget.max_usd,
        "eta": None if finished else _eta(steps, now),
        "last_error": state["last_error"],
    }


def _time(seconds: float | None) -> str:
    return "" if seconds is None else duration(seconds)


def usd(x: float | None) -> str:
    return "unknown" if x is None else f"${x:,.2f}"


_MARK = {"done": "[green]done[/green]", "running": "[cyan]running[/cyan]", "stopped": "[red]stopped[/red]",
         "pending": "[dim]-[/dim]"}


def _cell(step: dict | None) -> str:
    if step is None:
        return ""
    return f"{_MARK[step['state']]} {_time(step['seconds'])}".strip()


def _value(x: object) -> str:
    return "" if x is None else f"{x:.2f}" if isinstance(x, float) else str(x)


def show(st: dict, console) -> None:
    """Print a status as a few lines and tables."""
    from functools import partial

    from rich import box
    from rich.table import Table as RichTable

    Table = partial(RichTable, box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0), title_justify="left")

    headline = f"[bold]{st['run']}[/bold]: {st['state']}"
    current = next((s for s in st["steps"] if s["state"] in ("running", "stopped")), None)
    if current:
        headline += f", at step {current['name']}" + (f" for {_time(current['seconds'])}" if current["seconds"] else "")
    eta = st["eta"]
    if eta and st["state"] != "finished":
        if eta["seconds"]:
            headline += f"; about {_time(eta['seconds'])} of work left" + (
                f" plus {eta['unknown_steps']} steps of kinds not yet timed" if eta["unknown_steps"] else "")
        else:
            headline += "; time left unknown until each kind of step has run once"
    console.print(headline, highlight=False)
    if st["current"]:
        console.print(f"  now: {st['current']['line']}", highlight=False, markup=False)

    by_name = {s["name"]: s for s in st["steps"]}
    console.print(f"setup: {_cell(by_name['setup'])}" + (
        f"; held-out before training: {_cell(by_name['before'])}" if "before" in by_name else ""))
    kinds = [s for s in STEPS if any(name.endswith(f".{s}") for name in by_name)]  # a variant may skip one
    steps = Table(title="steps")
    for col in ("iteration", *kinds):
        steps.add_column(col)
    for k in range(1, st["iterations_planned"] + 1):
        steps.add_row(str(k), *(_cell(by_name.get(f"{k}.{s}")) for s in kinds))
    console.print(steps)

    if st["iterations"]:
        table = Table(title="pools and splits")
        for col in ("iter", "train", "cache", "hard", "easy", "mean d", "made", "kept", "held-out", "failed", "cost"):
            table.add_column(col, justify="right")
        for it in st["iterations"]:
            held = it["heldout"] or {}
            table.add_row(
                str(it["iteration"]), *(_value(it[key]) for key in ("train_pool", "cache_pool", "hard", "easy", "mean_d",
                                                                       "generated", "kept")),
                _value(held.get("relative_score")),
                _value(sum(it["failed_items"].values()) + (it["failed_judgements"] or 0) or None),
                usd(it["spend"].get("cost_usd")) if it["spend"] else "",
            )
        console.print(table)
        console.print("train/cache: the pools the iteration started from; made/kept: new instructions written by the "
                      "generator and kept by the filters; held-out: relative score %; failed: items left out "
                      "(see iter-KK/*/failed.jsonl)",
                      style="dim", highlight=False)
        last = next((it for it in reversed(st["iterations"]) if it["dropped"]), None)
        if last:
            reasons = ", ".join(f"{why} {n}" for why, n in sorted(last["dropped"].items(), key=lambda kv: -kv[1]))
            console.print(f"dropped in iteration {last['iteration']}: {reasons}", highlight=False)

    spend = st["spend"]
    if spend["total"]:
        table = Table(title="LLM spend")
        for col in ("role", "calls", "tokens in", "tokens out", "cost"):
            table.add_column(col, justify="left" if col == "role" else "right")
        for role, row in [*spend["by_role"].items(), ("total", spend["total"])]:
            table.add_row(role, f"{row['calls']:,}", f"{row['prompt_tokens']:,}", f"{row['completion_tokens']:,}",
                          usd(row["cost_usd"]))
        console.print(table)
    budget = st["budget_usd"]
    if budget:
        spent = spend["total"].get("cost_usd") or 0.0
        console.print(f"budget: {usd(spent)} of {usd(budget)} spent ({spent / budget:.0%})", highlight=False)
    error = st["last_error"]
    if error:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(error["time"]))
        console.print(f"last error ({when}, step {error['step'] or 'before the first step'}): {error['message']}",
                      highlight=False, markup=False)
