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
from lion.loop.plan import Sizes, Step, run_sizes, run_steps, work
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
    resumed: bool = False  # went on from an earlier start that never finished: `seconds` is only this start's share
    work: int | None = None  # what its time grows with, in a unit of its kind (see lion.loop.plan.work)


class Eta(BaseModel):
    seconds: int  # the work left that can be timed; only a floor where `at_least`
    unknown_steps: int  # steps left of a kind that has not finished once yet, whose time is not in `seconds`
    unknown_kinds: list[str] = []  # those kinds
    at_least: bool = False  # some work left is not in `seconds`, or is timed only on a resumed step's share
    current_s: int | None = None  # of `seconds`, what the running step has left


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


def _rates(steps: list[StepState]) -> dict[str, tuple[float, bool]]:
    """Seconds per unit of work of each kind, from its latest step that finished in one go, or,
    where every one finished only after a resume, from the latest of those, marked as a floor:
    a resumed step's time is only its last session's share."""
    rates: dict[str, tuple[float, bool]] = {}
    for s in steps:
        if s.state != "done" or s.seconds is None or not s.work:
            continue
        if not s.resumed or rates.get(s.kind, (0.0, True))[1]:
            rates[s.kind] = (s.seconds / s.work, s.resumed)
    return rates


def _bar_left(bar: dict | None, now: float) -> float | None:
    """Seconds the running step's bar has left at the rate it has gone so far, as its line says."""
    try:
        done, total, took = bar["done"], bar["total"], bar["updated"] - bar["started"]
    except (KeyError, TypeError):
        return None
    if not done or took <= 0:
        return None
    return max(took / done * (total - done) - (now - bar["updated"]), 0.0)


def _running_left(step: StepState, expected: float | None, bar: dict | None, now: float) -> float | None:
    """What the running step has left: at least what its bar has left at the bar's own rate, and
    at least what its kind's scaled time leaves after the time it has run; None where neither is
    known. The bar alone runs low when more of the step follows it (training after the teacher's
    answers), the kind's time alone when this step is slower than the last."""
    ran = now - step.started if step.started else 0.0
    guesses = [x for x in (_bar_left(bar, now), None if expected is None else expected - ran) if x is not None]
    return max(max(guesses), 0.0) if guesses else None


def _eta(steps: list[StepState], bar: dict | None, now: float) -> Eta:
    """Seconds left: each step not done takes what the latest finished step of its kind took,
    scaled by the work each has (pools grow every iteration, and the closing imitation trains on
    all of them); the running step at least what its bar has left at its own rate. A stopped
    step counts whole: its bar died with it. Steps of a kind that has not finished once are
    counted apart, and make the figure a floor. `before` scores the untrained student as every
    `K.heldout` scores a trained one: one kind.
    """
    rates = _rates(steps)
    left, current, unknown, floor = 0.0, None, [], False
    for s in (s for s in steps if s.state != "done"):
        rate, partial = rates.get(s.kind, (None, False))
        guess = None if rate is None or s.work is None else rate * s.work
        floor = floor or partial
        if s.state == "running":
            floor = floor or guess is None  # its bar alone: more of the step may follow the bar
            guess = current = _running_left(s, guess, bar, now)
        if guess is None:
            unknown.append(s)
        else:
            left += guess
    return Eta(seconds=round(left), unknown_steps=len(unknown), unknown_kinds=list(dict.fromkeys(s.kind for s in unknown)),
               at_least=floor or bool(unknown), current_s=None if current is None else round(current))


def _step_state(step: Step, state: dict, running: bool, now: float, work_: int | None) -> StepState:
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
                     student_cpu_s=part("student"), arena_cpu_s=part("arena"), resumed=times.get("resumed", False),
                     work=work_)


def _live_bar(run: RunFolder) -> dict | None:
    """The running step's bar, or None where there is none (or it ended as we read it)."""
    try:
        return load_json(run.progress_path)
    except (OSError, ValueError):
        return None


def _work(step: Step, cfg: RunConfig, sizes: Sizes | None) -> int | None:
    return None if sizes is None else work(step, cfg, sizes)


def collect(root: Path) -> Status:
    """Where the run at `root` stands, read from its folder without writing to it."""
    run, cfg = open_run(Path(root))
    state = run.state()
    running = run.in_use()
    now = time.time()
    plan = run_steps(cfg, run)
    sizes = run_sizes(cfg, run, max(s.iteration for s in plan))
    steps = [_step_state(step, state, running, now, _work(step, cfg, sizes.get(step.iteration))) for step in plan]
    spend = run_spend(run)
    current = _live_bar(run) if running else None  # a stopped run's bar died with it
    started = {s.iteration: s.closing for s in steps if s.state != "pending" and s.iteration}
    finished = all(s.state == "done" for s in steps)
    iterations = [iteration_record(run, k, spend, closing) for k, closing in started.items()]
    return Status(
        run=str(root),
        state="running" if running else "finished" if finished else "stopped",
        iterations_planned=cfg.loop.iterations,
        steps=steps,
        current=current,
        before=before_scores(run),
        iterations=iterations,
        split_warnings=[w for it in iterations if (w := split_warning(it, cfg.loop))],
        spend=spend,
        budget_usd=cfg.budget.max_usd,
        eta=None if finished else _eta(steps, current, now),
        last_error=state["last_error"],
    )


def eta_text(eta: Eta) -> str:
    """The time left as a figure only where every step left could be timed; a floor where a
    step's time is only partly known; unknown, with the floor, while a kind of step left has
    never finished: a figure that leaves out whole steps would mislead."""
    this = f" ({_time(eta.current_s)} of it this step)" if eta.current_s and eta.current_s < eta.seconds else ""
    if eta.unknown_steps:
        kinds = eta.unknown_kinds
        named = kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + f" and {kinds[-1]}"
        floor = f" (at least {_time(eta.seconds)})" if eta.seconds else ""
        return f"time left unknown until {named} {'has' if len(kinds) == 1 else 'have each'} finished once{floor}"
    return f"{'at least' if eta.at_least else 'about'} {_time(eta.seconds)} of work left{this}"


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
    if st.eta and st.state != "finished":
        headline += "; " + eta_text(st.eta)
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
        for title, keys in STATUS.items():
            rows = [cells(it, keys) for it in st.iterations]
            shown = [i for i in range(len(keys)) if i == 0 or any(row[i] for row in rows)]  # an empty column says nothing
            table = Table(title=title)
            for i in shown:
                table.add_column(headers(keys)[i], justify="right")
            for row in rows:
                table.add_row(*(row[i] for i in shown))
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
