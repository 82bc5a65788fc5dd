"""Where a run stands: its steps, pools, splits, spend against the budget, failures and ETA.

Read-only: it takes no lock and writes nothing, so it can watch a run that is going on in
another process (or on another machine sharing the folder).
"""

from __future__ import annotations

import time
from itertools import groupby
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from lion.core.config import RunConfig, load_config
from lion.core.errors import LionError
from lion.core.progress import duration
from lion.loop.describe import LEGEND, SPEND_HEADERS, STATUS, cells, dropped_text, headers, iteration_name, spend_rows, split_warning, usd
from lion.loop.plan import Step, run_steps
from lion.loop.run_folder import RunFolder
from lion.loop.stages.heldout import HeldoutResult
from lion.loop.summary import IterationRecord, RunSpend, before_scores, iteration_record, load_json, run_spend


class StepState(BaseModel):
    name: str
    kind: str
    iteration: int
    closing: bool = False  # the imitation after the last generation, or its held-out evaluation
    state: Literal["done", "running", "stopped", "pending"]
    started: float | None = None  # Unix seconds of its last start
    seconds: float | None = None  # how long it took, or has been running
    cpu_s: float | None = None  # CPU seconds it used (with the processes it waited for), once done
    peak_rss_mb: float | None = None  # the largest resident set of the run's processes by its end
    student_cpu_s: float | None = None  # of cpu_s, the student's training, answering and scoring
    arena_cpu_s: float | None = None  # of cpu_s, the arena playing LLM roles in this process


class Eta(BaseModel):
    seconds: int
    unknown_steps: int  # steps of a kind that has not finished once yet


class Status(BaseModel):
    """Everything `lion status` shows, as data (also its `--json`)."""

    run: str
    state: Literal["running", "stopped", "finished"]
    iterations_planned: int
    steps: list[StepState]
    current: dict | None  # the running bar, from progress.json
    before: HeldoutResult | None
    iterations: list[IterationRecord]
    split_warnings: list[str] = []  # one sentence per iteration whose split is (nearly) all hard or all easy
    spend: RunSpend
    budget_usd: float | None
    eta: Eta | None
    last_error: dict | None


def open_run(root: Path) -> tuple[RunFolder, RunConfig]:
    run = RunFolder(root)
    if not run.config_path.exists():
        raise LionError(f"{root}: not a run folder (no config.yaml).")
    return run, load_config(run.config_path)


def _eta(steps: list[StepState], now: float) -> Eta:
    """Seconds left, each step not done taking what the latest finished step of its kind took.

    Pools grow from one iteration to the next, so this leans low. `before` scores the
    untrained student as every `K.heldout` scores a trained one: one kind.
    """
    took: dict[str, float] = {}
    for s in steps:
        if s.seconds is not None and s.state == "done":
            took[s.kind] = s.seconds
    left, unknown = 0.0, 0
    for s in steps:
        if s.state == "done":
            continue
        guess = took.get(s.kind)
        if guess is None:
            unknown += 1
            continue
        if s.state == "running":
            guess = max(guess - (now - s.started), 0.0)
        left += guess
    return Eta(seconds=round(left), unknown_steps=unknown)


def _step_state(step: Step, state: dict, running: bool, now: float) -> StepState:
    times = state["times"].get(step.name, {})
    if step.name in state["done"]:
        st = "done"
    elif step.name == state["current"]:
        st = "running" if running else "stopped"
    else:
        st = "pending"
    started, finished = times.get("started"), times.get("finished")
    parts = times.get("cpu_parts")

    def part(name: str) -> float | None:  # none where the step predates the split or was resumed
        return None if parts is None else parts.get(name, 0.0)

    seconds = finished - started if started and finished else (now - started if st == "running" and started else None)
    return StepState(name=step.name, kind=step.kind, iteration=step.iteration, closing=step.closing, state=st,
                     started=started, seconds=seconds, cpu_s=times.get("cpu_s"), peak_rss_mb=times.get("peak_rss_mb"),
                     student_cpu_s=part("student"), arena_cpu_s=part("arena"))


def collect(root: Path) -> Status:
    """Where the run at `root` stands, read from its folder without writing to it."""
    run, cfg = open_run(Path(root))
    state = run.state()
    running = run.in_use()
    now = time.time()
    steps = [_step_state(step, state, running, now) for step in run_steps(cfg, run)]
    spend = run_spend(run)
    started = {s.iteration: s.closing for s in steps if s.state != "pending" and s.iteration}
    finished = all(s.state == "done" for s in steps)
    iterations = [iteration_record(run, k, spend, closing) for k, closing in started.items()]
    return Status(
        run=str(root),
        state="running" if running else "finished" if finished else "stopped",
        iterations_planned=cfg.loop.iterations,
        steps=steps,
        current=load_json(run.progress_path) if running else None,
        before=before_scores(run),
        iterations=iterations,
        split_warnings=[w for it in iterations if (w := split_warning(it, cfg.loop))],
        spend=spend,
        budget_usd=cfg.budget.max_usd,
        eta=None if finished else _eta(steps, now),
        last_error=state["last_error"],
    )


def _time(seconds: float | None) -> str:
    return "" if seconds is None else duration(seconds)


_BEFORE_ITERATIONS = {"setup": "setup", "heldout": "held-out before training"}
_MARK = {"done": "[green]done[/green]", "running": "[cyan]running[/cyan]", "stopped": "[red]stopped[/red]",
         "pending": "[dim]-[/dim]"}


def _cell(step: StepState | None) -> str:
    if step is None:
        return ""
    return f"{_MARK[step.state]} {_time(step.seconds)}".strip()


def show(st: Status, console) -> None:
    """Print a status as a few lines and tables."""
    from functools import partial

    from rich import box
    from rich.table import Table as RichTable

    Table = partial(RichTable, box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0), title_justify="left")

    headline = f"[bold]{st.run}[/bold]: {st.state}"
    current = next((s for s in st.steps if s.state in ("running", "stopped")), None)
    if current:
        headline += f", at step {current.name}" + (f" for {_time(current.seconds)}" if current.seconds else "")
    eta = st.eta
    if eta and st.state != "finished":
        if eta.seconds:
            headline += f"; about {_time(eta.seconds)} of work left" + (
                f" plus {eta.unknown_steps} steps of kinds not yet timed" if eta.unknown_steps else "")
        else:
            headline += "; time left unknown until each kind of step has run once"
    console.print(headline, highlight=False)
    if st.current:
        console.print(f"  now: {st.current['line']}", highlight=False, markup=False)

    first = [s for s in st.steps if not s.iteration]  # the setup, and the scores before training
    console.print("; ".join(f"{_BEFORE_ITERATIONS[s.kind]}: {_cell(s)}" for s in first), highlight=False)
    kinds = list(dict.fromkeys(s.kind for s in st.steps if s.iteration))  # a variant may skip one
    steps = Table(title="steps")
    for col in ("iteration", *kinds):
        steps.add_column(col)
    cell = {(s.iteration, s.kind): s for s in st.steps}
    for k, group in groupby((s for s in st.steps if s.iteration), key=lambda s: s.iteration):
        steps.add_row(iteration_name(k, next(group).closing), *(_cell(cell.get((k, kind))) for kind in kinds))
    console.print(steps)

    if st.iterations:
        table = Table(title="pools and splits")
        for col in headers(STATUS):
            table.add_column(col, justify="right")
        for it in st.iterations:
            table.add_row(*cells(it, STATUS))
        console.print(table)
        console.print(LEGEND, style="dim", highlight=False)
        last = next((it for it in reversed(st.iterations) if it.dropped), None)
        if last:
            console.print(f"dropped in iteration {last.iteration}: {dropped_text(last.dropped)}", highlight=False)
        for warning in st.split_warnings:
            console.print(warning, style="yellow", highlight=False, markup=False)

    if st.spend.total.calls:
        table = Table(title="LLM spend")
        for col in SPEND_HEADERS:
            table.add_column(col, justify="left" if col == "role" else "right")
        for row in spend_rows(st.spend):
            table.add_row(*row)
        console.print(table)
    budget = st.budget_usd
    if budget:
        spent = st.spend.total.cost_usd or 0.0
        console.print(f"budget: {usd(spent)} of {usd(budget)} spent ({spent / budget:.0%})", highlight=False)
    error = st.last_error
    if error:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(error["time"]))
        console.print(f"last error ({when}, step {error['step'] or 'before the first step'}): {error['message']}",
                      highlight=False, markup=False)
