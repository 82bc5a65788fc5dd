"""`lion experiment`: several loop variants, several seeds, one table of held-out scores.

Every variant adds the same number of new instructions per iteration to the same seed pool, so
at each iteration all students have learned from the same number of examples and differ only
in which ones. Each (variant, seed) is an ordinary run folder, made by its own `lion run`
process: it resumes after a kill like any run, and a finished one costs nothing when the
experiment is started again, so the command itself resumes too.
"""

from __future__ import annotations

import math
import os
import shlex
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from pydantic import BaseModel
from scipy import stats as scistats

from lion.core import atomic
from lion.core.config import RunConfig, load_config
from lion.core.errors import LionError
from lion.core.plots import plt, save
from lion.core.progress import bar
from lion.llm.pricing import cost_usd, price_of
from lion.loop.run_folder import RunFolder
from lion.loop.stages.heldout import HeldoutResult
from lion.loop.summary import Spend, read_summary
from lion.loop.variants import BASELINES, BUILT_IN


class Variant(BaseModel):
    name: str
    overrides: list[str]
    command: list[str] | None = None  # what runs it in place of `python -m lion` (a benchmark's own entry)


class Plan(BaseModel):
    """What an experiment folder holds; a second start must ask for the same thing."""

    config: str
    variants: list[Variant]
    seeds: list[int]


def parse_variant(text: str) -> Variant:
    """NAME (built-in) or NAME=OVERRIDES, OVERRIDES being space-separated dotted.key=value items
    laid on the built-in of that name if there is one."""
    name, _, rest = text.partition("=")
    name = name.strip()
    extra = shlex.split(rest)
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise LionError(f"--variant {text!r}: the name must be letters, digits, '-' or '_'.")
    if name not in BUILT_IN and not extra:
        raise LionError(f"--variant {name}: not a built-in variant ({', '.join(BUILT_IN)}); "
                        "give its overrides as NAME='dotted.key=value ...'.")
    for item in extra:
        if "=" not in item:
            raise LionError(f"--variant {name}: {item!r} must look like dotted.key=value.")
    return Variant(name=name, overrides=[*BUILT_IN.get(name, ()), *extra])


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise LionError(f"--seeds {text!r}: give whole numbers separated by commas, e.g. 1,2,3.") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise LionError(f"--seeds {text!r}: give at least one seed, each once.")
    return seeds


def seed_overrides(seed: int) -> list[str]:
    """A seed draws the seed pool, the held-out set, the student's start and every choice."""
    return [f"loop.seed={seed}", f"student.train.seed={seed}"]


def run_folder(out: Path, variant: str, seed: int) -> Path:
    return out / variant / f"seed-{seed}"


def prepare(config: Path, variants: list[Variant], seeds: list[int], out: Path) -> Plan:
    """Check every run's config before any run starts, and the plan against an earlier start."""
    if len({v.name for v in variants}) != len(variants):
        raise LionError("--variant: each name once.")
    for v in variants:
        for s in seeds:
            try:
                load_config(config, [*v.overrides, *seed_overrides(s)])
            except LionError as e:
                raise LionError(f"variant {v.name}: {e}") from None
    plan = Plan(config=str(config.resolve()), variants=variants, seeds=seeds)
    saved = out / "experiment.json"
    if saved.exists():
        before = Plan.model_validate_json(saved.read_text(encoding="utf-8"))
        if before != plan:
            raise LionError(f"{out}: holds an experiment with other variants, seeds or config "
                            f"(see {saved}); choose another --out.")
    else:
        out.mkdir(parents=True, exist_ok=True)
        atomic.write_text(saved, plan.model_dump_json(indent=2) + "\n")
    return plan


def run_all(plan: Plan, out: Path, jobs: int, threads: int | None, say: Callable[[str], None]) -> list[str]:
    """Run (or resume) every (variant, seed), `jobs` at a time; returns the failures' sentences.

    Stopped itself (Ctrl-C, SIGTERM), it stops its runs too, so none is left holding its folder;
    each resumes when the experiment is started again.
    """
    todo = [(v, s) for s in plan.seeds for v in plan.variants]  # seeds outer: early results cover every variant
    threads = threads or max(1, (os.cpu_count() or 1) // jobs)
    failures: list[str] = []
    live: set[subprocess.Popen] = set()
    stopping = False

    def one(variant: Variant, seed: int) -> tuple[str, Path, float, int | None]:
        folder = run_folder(out, variant.name, seed)
        folder.parent.mkdir(parents=True, exist_ok=True)
        log = out / "logs" / f"{variant.name}-seed-{seed}.log"
        log.parent.mkdir(exist_ok=True)
        sets = [*variant.overrides, *seed_overrides(seed), f"threads={threads}"]
        cmd = [*(variant.command or [sys.executable, "-m", "lion"]), "--quiet", "run", plan.config, "--out", str(folder)]
        cmd += [arg for item in sets for arg in ("--set", item)]
        name = f"{variant.name} seed {seed}"
        if stopping:
            return name, log, 0.0, None
        start = time.monotonic()
        with log.open("a", encoding="utf-8") as f:
            f.write(f"$ {shlex.join(cmd)}\n")
            f.flush()
            proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            live.add(proc)
            code = proc.wait()
            live.discard(proc)
        return name, log, time.monotonic() - start, code

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop) if threading.current_thread() is threading.main_thread() else None
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool, bar("experiment runs", len(todo)) as advance:
            futures = [pool.submit(one, v, s) for v, s in todo]
            try:
                for future in as_completed(futures):
                    name, log, took, code = future.result()
                    advance()
                    if code == 0:
                        say(f"  {name}: done in {took / 60:.1f} min")
                    else:
                        failures.append(f"{name} stopped with exit code {code}; see {log}")
                        say(f"  [red]{failures[-1]}[/red]")
            except BaseException:
                stopping = True
                for f in futures:
                    f.cancel()
                for proc in list(live):
                    proc.terminate()
                raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return failures


# --- results --------------------------------------------------------------------------------


def run_points(folder: Path) -> list[dict]:
    """(examples learned from, relative score, exact match) of each evaluated student of a run."""
    summary = read_summary(RunFolder(folder))
    if summary is None:
        return []
    points = []
    if summary.before:
        points.append({"iteration": 0, "examples": 0, **_scores(summary.before)})
    examples = 0
    for it in summary.iterations:
        examples += it.train_pool or 0
        if it.heldout:  # a slice held back to be judged is learned from one iteration late
            points.append({"iteration": it.iteration, "examples": examples - (it.held_back or 0), **_scores(it.heldout)})
    return points


LOOP_ROLES = ("teacher", "referee", "generator")  # the judge only measures the student, whatever the variant


def run_cost(folder: Path, prices: RunConfig) -> dict[str, float] | None:
    """What a run's loop calls would have cost at the prices of `prices`' roles: each role's calls,
    prompt and answer tokens as the run counted them; None before the run has a summary or where
    a role has no known price."""
    summary = read_summary(RunFolder(folder))
    if summary is None:
        return None
    cost = {}
    for role in LOOP_ROLES:
        price, spent = price_of(getattr(prices, role)), summary.spend.by_role.get(role, Spend())
        if price is None:
            return None
        cost[role] = cost_usd(price, spent.prompt_tokens, spent.completion_tokens)
    return {**cost, "total": sum(cost.values())}


def _scores(heldout: HeldoutResult) -> dict:
    return {"relative_score": heldout.relative_score, "exact_match": heldout.exact_match}


def interval(values: list[float], digits: int = 2) -> dict:
    """Mean and 95% t-interval over seeds (no interval from one seed)."""
    n = len(values)
    mean = statistics.fmean(values)
    if n < 2:
        return {"n": n, "mean": round(mean, digits), "low": None, "high": None}
    half = scistats.t.ppf(0.975, n - 1) * statistics.stdev(values) / math.sqrt(n)
    return {"n": n, "mean": round(mean, digits), "low": round(mean - half, digits), "high": round(mean + half, digits)}


METRICS = ("relative_score", "exact_match")


def collect(plan: Plan, out: Path, price_at: Path | None = None) -> dict:
    """Per variant: each seed's points, and per iteration the mean and interval over seeds;
    per variant and baseline: the paired difference at the last iteration all seeds reached;
    with `price_at` (a config), what each variant's loop calls would cost at its roles' prices."""
    runs = {v.name: {s: run_points(run_folder(out, v.name, s)) for s in plan.seeds} for v in plan.variants}
    table: dict[str, list[dict]] = {}
    for name, by_seed in runs.items():
        rows = []
        iterations = sorted({p["iteration"] for pts in by_seed.values() for p in pts})
        for k in iterations:
            at = [p for pts in by_seed.values() for p in pts if p["iteration"] == k]
            row = {"iteration": k, "examples": round(statistics.fmean(p["examples"] for p in at))}
            for m in METRICS:
                values = [p[m] for p in at if p[m] is not None]
                row[m] = interval(values) if values else None
            rows.append(row)
        table[name] = rows
    results = {"plan": plan.model_dump(), "runs": runs, "table": table, "paired": _paired(runs)}
    if price_at is not None:
        results["cost"] = _costs(plan, out, price_at)
    return results


def _costs(plan: Plan, out: Path, price_at: Path) -> dict:
    prices = load_config(price_at)
    cost: dict = {"prices": str(price_at), "variants": {}}
    for v in plan.variants:
        per_seed = [c for s in plan.seeds if (c := run_cost(run_folder(out, v.name, s), prices))]
        if per_seed:
            cost["variants"][v.name] = {role: interval([c[role] for c in per_seed], 6) for role in (*LOOP_ROLES, "total")}
    return cost


def _paired(runs: dict[str, dict[int, list[dict]]]) -> list[dict]:
    """Each variant minus each baseline, seed by seed, at the last iteration both reached."""
    out = []
    for base in BASELINES:
        if base not in runs:
            continue
        for name, by_seed in runs.items():
            if name == base:
                continue
            for m in METRICS:
                diffs, at = [], None
                for seed, pts in by_seed.items():
                    other = runs[base][seed]
                    common = {p["iteration"] for p in pts} & {p["iteration"] for p in other}
                    if not common:
                        continue
                    k = max(common)
                    a = next(p[m] for p in pts if p["iteration"] == k)
                    b = next(p[m] for p in other if p["iteration"] == k)
                    if a is not None and b is not None:
                        diffs.append(a - b)
                        at = k if at is None else min(at, k)
                if diffs:
                    out.append({"variant": name, "baseline": base, "metric": m, "iteration": at,
                                "wins": sum(d > 0 for d in diffs), **interval(diffs)})
    return out


def _cell(c: dict | None) -> str:
    if not c:
        return ""
    if c["low"] is None:
        return f"{c['mean']:.1f}"
    return f"{c['mean']:.1f} [{c['low']:.1f}, {c['high']:.1f}]"


def to_markdown(results: dict) -> str:
    plan = results["plan"]
    seeds = ", ".join(map(str, plan["seeds"]))
    lines = [
        "# Experiment", "",
        (f"Config `{plan['config']}`, seeds {seeds}. Held-out scores per iteration: mean over seeds "
         "[95% t-interval]; `examples` is how many training examples the student had learned from."), "",
    ]
    for m, title in (("relative_score", "Relative score, % of the teacher"), ("exact_match", "Exact match, %")):
        if not any(r.get(m) for rows in results["table"].values() for r in rows):
            continue
        iterations = sorted({r["iteration"] for rows in results["table"].values() for r in rows})
        lines += [f"## {title}", "", "| variant | " + " | ".join(f"iter {k}" for k in iterations) + " |",
                  "|---|" + "---|" * len(iterations)]
        examples: dict[int, set[int]] = {}  # a held_back variant has learned from fewer
        for rows in results["table"].values():
            for r in rows:
                examples.setdefault(r["iteration"], set()).add(r["examples"])
        lines.append("| *examples* | " + " | ".join(" or ".join(map(str, sorted(examples[k], reverse=True)))
                                                    for k in iterations) + " |")
        for name, rows in results["table"].items():
            by_k = {r["iteration"]: r.get(m) for r in rows}
            lines.append(f"| {name} | " + " | ".join(_cell(by_k.get(k)) for k in iterations) + " |")
        lines.append("")
    if results["paired"]:
        lines += ["## Against the baselines", "",
                  ("Each variant minus a baseline, seed by seed, at the last iteration both reached: mean "
                   "difference in points [95% t-interval], and in how many seeds the variant was ahead."), "",
                  "| variant | baseline | metric | iteration | difference | ahead in |", "|---|---|---|---|---|---|"]
        for p in results["paired"]:
            lines.append(f"| {p['variant']} | {p['baseline']} | {p['metric'].replace('_', ' ')} | {p['iteration']} | "
                         f"{_cell(p):s} | {p['wins']} of {p['n']} |")
        lines.append("")
    if results.get("cost", {}).get("variants"):
        lines += _cost_lines(results)
    return "\n".join(lines)


def _cost_lines(results: dict) -> list[str]:
    """The cost table beside each variant's score at its last iteration: which gives the best
    student for the money."""
    cost = results["cost"]
    lines = ["## What the loop's LLM calls would cost", "",
             (f"The teacher's, referee's and generator's calls of each run, with the tokens the run counted, priced at "
              f"the roles of `{cost['prices']}` (the held-out judge is left out: every variant pays the same for it). "
              "US dollars per run, mean over seeds [95% t-interval]."), "",
             "| variant | teacher | referee | generator | total | relative score at the end |", "|---|---|---|---|---|---|"]
    for name, c in cost["variants"].items():
        last = results["table"][name][-1].get("relative_score") if results["table"].get(name) else None
        money = [f"{c[r]['mean']:.4f}" for r in LOOP_ROLES] + [_money(c["total"])]
        lines.append(f"| {name} | " + " | ".join(money) + f" | {_cell(last)} |")
    return [*lines, ""]


def _money(c: dict) -> str:
    if c["low"] is None:
        return f"{c['mean']:.4f}"
    return f"{c['mean']:.4f} [{c['low']:.4f}, {c['high']:.4f}]"


def plot(results: dict, path: Path) -> None:
    """Both metrics against examples learned from: each variant's mean, its interval shaded."""
    metrics = [m for m in METRICS if any(r.get(m) for rows in results["table"].values() for r in rows)]
    fig, axes = plt.subplots(1, len(metrics), figsize=(6.5 * len(metrics), 4.5), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        for name, rows in results["table"].items():
            rows = [r for r in rows if r.get(m)]
            x = [r["examples"] for r in rows]
            ax.plot(x, [r[m]["mean"] for r in rows], marker="o", label=name)
            if all(r[m]["low"] is not None for r in rows):
                ax.fill_between(x, [r[m]["low"] for r in rows], [r[m]["high"] for r in rows], alpha=0.15)
        ax.set_xlabel("training examples the student learned from")
        ax.set_ylabel({"relative_score": "relative score, % of teacher", "exact_match": "exact match, %"}[m])
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=8)
    save(fig, path)


def write_results(results: dict, out: Path) -> None:
    atomic.write_json(out / "results.json", results)
    atomic.write_text(out / "results.md", to_markdown(results))
    plot(results, out / "scores.png")


def run_experiment(config: Path, variants: list[Variant], seeds: list[int], out: Path, jobs: int,
                   threads: int | None, say: Callable[[str], None], price_at: Path | None = None) -> tuple[dict, list[str]]:
    if price_at is not None:
        load_config(price_at)  # a config that cannot price is refused before any run starts
    plan = prepare(config, variants, seeds, out)
    say(f"{len(variants)} variants x {len(seeds)} seeds = {len(variants) * len(seeds)} runs, {jobs} at a time, in {out}")
    failures = run_all(plan, out, jobs, threads, say)
    results = collect(plan, out, price_at)
    write_results(results, out)
    return results, failures
