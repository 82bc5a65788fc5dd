"""The report of a run: tables and plots in `report.md`, the same as one self-contained `report.html`.

It reads only the run folder (any run, finished or not, while it runs or after) and writes only
its output folder. The HTML carries its plots inline, so it can be mailed or attached as it is.
Every text that came from an LLM is escaped before it reaches Markdown or HTML: an answer that
holds markup shows as text and runs nothing.
"""

from __future__ import annotations

import base64
import html
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from markdown_it import MarkdownIt

from lion.core import atomic
from lion.core.config import LoopConfig, RunConfig
from lion.core.plots import plt, save
from lion.core.records import Instruction, Response, SplitRecord, read_jsonl
from lion.llm.cache import ResponseCache
from lion.loop.describe import REPORT, SPEND_HEADERS, cells, headers, interval_text, iteration_label, percent, spend_rows, usd
from lion.loop.run_folder import RunFolder
from lion.loop.stages.heldout import HeldoutResult
from lion.loop.summary import IterationRecord
from lion.observe.status import Status, collect, open_run

HARDEST = 8  # instructions shown with both answers
ANSWER_CHARS = 600  # of each answer shown; the run folder has them whole
TOP_GROUPS = 8  # lineage groups and kinds drawn; the rest are "other" or left out
# the marks that can open Markdown markup, an entity or an HTML tag anywhere in a line
_ESCAPE = {ord(c): "\\" + c for c in "\\`*_[]<>&|~"}


def text_cell(text: str, limit: int = ANSWER_CHARS) -> str:
    """LLM text as inert Markdown: each mark that could open markup, a link, an entity or an
    HTML tag backslash-escaped, lines joined with <br>, cut at `limit` characters."""
    text = text.strip()
    if len(text) > limit:
        text = text[:limit].rstrip() + " …"
    return "<br>".join(line.translate(_ESCAPE) for line in text.splitlines()) or "*(empty)*"


@dataclass(frozen=True)
class Measure:
    """What a signal's split records measure (loop.signal's `measure`), as the report draws and words it."""

    key: str  # the SplitRecord field
    name: str  # in headings: "the gap d"
    symbol: str  # in table headers and axis labels: "d"
    axis: str  # the histogram's x axis
    line: str  # the mean's axis
    reference: float  # the value that means no difference, drawn as a thin line
    bin_width: float | None  # the histogram's bins, aligned on whole numbers; None: 20 across the range
    rule: Callable[[LoopConfig], str]  # which judged instructions are hard, in a few words
    cutoff: Callable[[LoopConfig], tuple[float, str] | None]  # a fixed line between hard and easy, with its label
    trend: str  # what the hard share and the mean say over the iterations
    histogram_note: Callable[[LoopConfig], str]
    hardest_note: str  # how the hardest instructions are chosen


GAP = Measure(
    key="d", name="the gap d", symbol="d", axis="d = teacher score − student score (both orders averaged)",
    line="line: mean gap d (teacher − student)", reference=0.0,
    bin_width=0.5, rule=lambda loop: f"d ≥ τ = {loop.tau:g}", cutoff=lambda loop: (loop.tau, f"τ = {loop.tau:g}"),
    trend="A student that catches up moves both down: fewer instructions where the teacher wins by τ or more, and a "
          "smaller mean lead.",
    histogram_note=lambda loop: "Each instruction's d; the dashed line is τ, right of it is hard.",
    hardest_note="with the largest gap d, the referee's scores in bold",
)
IFD = Measure(
    key="ifd", name="the IFD", symbol="IFD", reference=1.0, bin_width=None,
    axis="IFD = the student's loss on the teacher's answer with the instruction / without it",
    line="line: mean IFD (1: the instruction does not help)",
    rule=lambda loop: f"top {loop.loss_hard_share:.0%} by IFD", cutoff=lambda loop: None,
    trend="The hard share is loop.loss_hard_share whatever the student, so only the mean moves: a student that "
          "catches up finds more help in each instruction for predicting the teacher's answer, and its mean IFD falls "
          "(at 1 the instruction does not help at all).",
    histogram_note=lambda loop: f"Each instruction's IFD; in each iteration the top {loop.loss_hard_share:.0%} "
                                "(loop.loss_hard_share) are hard, so no fixed line parts hard from easy.",
    hardest_note="with the highest IFD (the instruction helped the student least to predict the teacher's answer), "
                 "the student's loss on the answer with and without the instruction beside it",
)
MEASURES = {m.key: m for m in (GAP, IFD)}


def measure_of(cfg: RunConfig) -> Measure | None:
    """What this run's signal measures, as the report draws it; None for a signal it cannot draw."""
    return MEASURES.get(cfg.loop.hardness.measure or "")


@dataclass
class Iteration:
    """What the report draws for one iteration, read from its step outputs."""

    k: int
    facts: IterationRecord
    values: list[float] = field(default_factory=list)  # each judged instruction's measure (d or IFD)
    hard_share: float = 0.0  # of the judged instructions, as the split file says
    kept: list[Instruction] = field(default_factory=list)
    by_kind: dict[str, tuple[int, int]] = field(default_factory=dict)  # kind -> (hard, judged)


def _read_iterations(run: RunFolder, records: list[IterationRecord], measure: Measure | None) -> list[Iteration]:
    out = []
    for f in records:
        it = Iteration(f.iteration, f)
        files = run.iteration(it.k)
        if files.discrimination.split.exists():
            split = read_jsonl(files.discrimination.split, SplitRecord)
            if measure:
                it.values = [v for r in split if (v := getattr(r, measure.key)) is not None]
            it.hard_share = sum(r.hard for r in split) / len(split) if split else 0.0
            it.by_kind = _hard_by_kind(split, read_jsonl(run.pools(it.k - 1).cache, Instruction))
        if files.generation.new_instructions.exists():
            it.kept = read_jsonl(files.generation.new_instructions, Instruction)
        out.append(it)
    return out


def _hard_by_kind(split: list[SplitRecord], pool: list[Instruction]) -> dict[str, tuple[int, int]]:
    """(hard, judged) per kind: the judged instructions all sit in the pool the iteration began with."""
    kind = {it.id: it.kind for it in pool}
    counts: dict[str, list[int]] = {}
    for r in split:
        c = counts.setdefault(kind.get(r.id, "(unknown)"), [0, 0])
        c[0] += r.hard
        c[1] += 1
    return {k: (hard, judged) for k, (hard, judged) in counts.items()}


def _kind_cell(it: Iteration, kind: str) -> str:
    if kind not in it.by_kind:
        return ""
    from_hard = sum(1 for i in it.kept if i.kind == kind and i.origin == "from-hard")
    return "{}/{} → {}".format(*it.by_kind[kind], from_hard)


def _top_kinds(its: list[Iteration]) -> list[str]:
    judged = Counter()
    for it in its:
        judged.update({k: n for k, (_, n) in it.by_kind.items()})
    return [k for k, _ in judged.most_common(TOP_GROUPS)]


# --- plots --------------------------------------------------------------------------------------


def plot_split(its: list[Iteration], measure: Measure, loop: LoopConfig, path: Path) -> None:
    its = [it for it in its if it.values]
    ks = [it.k for it in its]
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    red = "#d62728"
    ax.bar(ks, [100 * it.hard_share for it in its], 0.6, color=red, alpha=0.75)
    ax.set_xlabel("iteration")
    ax.set_ylabel(f"bars: hard share, {measure.rule(loop)} (%)", color=red)
    ax.tick_params(axis="y", colors=red)
    ax.set_xticks(ks)
    right = ax.twinx()
    right.plot(ks, [np.mean(it.values) for it in its], "o-", color="black")
    right.set_ylabel(measure.line)
    right.axhline(measure.reference, color="grey", linewidth=0.6)
    save(fig, path)


def plot_hard_by_kind(its: list[Iteration], path: Path) -> None:
    """The hard share of each kind judged most, per iteration: where the hard
    budget goes, and which kinds the student is catching up on."""
    its = [it for it in its if it.by_kind]
    ks = [it.k for it in its]
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    for kind in _top_kinds(its):
        shares = [100 * it.by_kind[kind][0] / it.by_kind[kind][1] if kind in it.by_kind else np.nan for it in its]
        ax.plot(ks, shares, "o-", label=kind)
    ax.set_xticks(ks)
    ax.set_ylim(-3, 103)
    ax.set_xlabel("iteration")
    ax.set_ylabel("hard share of the kind's judged (%)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    save(fig, path)


def plot_histogram(its: list[Iteration], measure: Measure, loop: LoopConfig, path: Path) -> None:
    its = [it for it in its if it.values]
    low = min(min(it.values) for it in its)
    high = max(max(it.values) for it in its)
    if high <= low:
        bins = np.array([low - 0.5, low + 0.5])
    elif measure.bin_width:
        bins = np.arange(np.floor(low), np.ceil(high) + 1.0, measure.bin_width)
    else:
        bins = np.linspace(low, high, 21)
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    for it in its:
        ax.hist(it.values, bins=bins, histtype="step", linewidth=1.5, label=f"iteration {it.k} ({len(it.values)})")
    cutoff = measure.cutoff(loop)
    if cutoff:
        ax.axvline(cutoff[0], color="black", linestyle="--", linewidth=0.9, label=cutoff[1])
    ax.set_yscale("log")
    ax.set_xlabel(measure.axis)
    ax.set_ylabel("instructions (log scale)")
    ax.legend(fontsize=8)
    save(fig, path)


def plot_novelty(its: list[Iteration], path: Path) -> None:
    its = [it for it in its if it.facts.generated is not None]
    reasons = [r for r, _ in sum((Counter(it.facts.dropped) for it in its), Counter()).most_common()]
    ks = np.array([it.k for it in its])
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    bottom = np.zeros(len(its))
    kept = np.array([it.facts.kept for it in its], dtype=float)
    ax.bar(ks, kept, color="#2ca02c", label="kept")
    bottom += kept
    colors = plt.get_cmap("tab20c")
    for j, reason in enumerate(reasons):
        n = np.array([it.facts.dropped.get(reason, 0) for it in its], dtype=float)
        ax.bar(ks, n, bottom=bottom, color=colors(j % 20), label=reason)
        bottom += n
    for k, total, keep in zip(ks, bottom, kept):
        ax.annotate(f"{100 * keep / total:.0f}% kept" if total else "", (k, total), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(ks)
    ax.set_xlabel("iteration")
    ax.set_ylabel("generator replies")
    ax.set_ylim(0, bottom.max() * 1.12 if len(bottom) else 1)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    save(fig, path)


def plot_heldout(rows: list[tuple[str, HeldoutResult]], path: Path) -> None:
    names = [n for n, _ in rows]
    x = np.arange(len(rows))
    rel = np.array([r.relative_score if r.relative_score is not None else np.nan for _, r in rows], dtype=float)
    low = np.array([(r.relative_interval or [None])[0] for _, r in rows], dtype=float)
    high = np.array([(r.relative_interval or [None, None])[1] for _, r in rows], dtype=float)
    fig, ax = plt.subplots(figsize=(8, 3.4))
    errors = np.nan_to_num(np.vstack([rel - low, high - rel]))
    ax.errorbar(x, rel, yerr=errors, fmt="o-", capsize=3, label="relative score (95% interval)")
    em = [r.exact_match for _, r in rows]
    if any(v is not None for v in em):
        ax.plot(x, [np.nan if v is None else v for v in em], "s--", label="exact match")
    ax.axhline(100, color="black", linestyle=":", linewidth=0.9, label="teacher (100%)")
    ax.set_xticks(x, names)
    ax.set_ylim(0, 110)
    ax.set_ylabel("% (judge scores: student / teacher)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    save(fig, path)


def plot_spend(usage: list[dict], path: Path) -> str:
    """Stacked by role per step; dollars when every price is known and something cost money,
    tokens otherwise. Returns the measure drawn."""
    costs = [u["cost_usd"] for u in usage]
    dollars = None not in costs and sum(costs) > 0
    measure = "cost (USD)" if dollars else "tokens (prompt + answer)"
    steps = list(dict.fromkeys(u["stage"] for u in usage))
    roles = list(dict.fromkeys(u["role"] for u in usage))
    fig, ax = plt.subplots(figsize=(7.5, 0.28 * len(steps) + 1.4))
    left = np.zeros(len(steps))
    for role in roles:
        v = np.array([sum((u["cost_usd"] if dollars else u["prompt_tokens"] + u["completion_tokens"])
                          for u in usage if u["stage"] == s and u["role"] == role) for s in steps], dtype=float)
        ax.barh(range(len(steps)), v, left=left, label=role)
        left += v
    ax.set_yticks(range(len(steps)), steps, fontsize=8)
    ax.invert_yaxis()  # the run's order, top down
    ax.set_xlabel(measure)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    save(fig, path)
    return measure


def plot_bias(its: list[Iteration], path: Path) -> None:
    rows = [(it.k, it.facts.position_bias) for it in its if (it.facts.position_bias or {}).get("judged")]
    ks = np.array([k for k, _ in rows])
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.3))
    left.bar(ks, [b["position_1_mean"] - b["position_2_mean"] for _, b in rows], 0.5, color="#9467bd")
    left.axhline(0, color="black", linewidth=0.8)
    left.set_xticks(ks)
    left.set_xlabel("iteration")
    left.set_ylabel("mean score: shown first − second")
    flips = [100 * b["flip_rate"] for _, b in rows]
    disagreements = [100 * b["label_disagreement"] for _, b in rows]
    right.plot(ks, flips, "o-", label="winner flips on swap")
    right.plot(ks, disagreements, "s--", label="hard/easy label differs by order")
    right.set_xticks(ks)
    right.set_xlabel("iteration")
    right.set_ylabel("% of judged pairs")
    right.set_ylim(0, max(flips + disagreements) * 1.25 + 1)
    right.legend(fontsize=8)
    save(fig, path)


def plot_lineage(groups: list[str], counts: dict[int, Counter], what: str, path: Path) -> None:
    ks = np.array(sorted(counts))
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    bottom = np.zeros(len(ks))
    colors = plt.get_cmap("tab10")
    for j, g in enumerate(groups):
        v = np.array([counts[k][g] for k in ks], dtype=float)
        ax.bar(ks, v, bottom=bottom, color=colors(j % 10), label=g)
        bottom += v
    ax.set_xticks(ks)
    ax.set_xlabel("iteration")
    ax.set_ylabel("new instructions kept")
    ax.set_title(f"by {what}", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    save(fig, path)


# --- lineage ------------------------------------------------------------------------------------


def roots(pool: list[Instruction]) -> dict[str, Instruction]:
    """Each instruction's seed ancestor, following `parent` links through the pool."""
    by_id = {it.id: it for it in pool}
    found: dict[str, Instruction] = {}
    for it in pool:
        chain, node = [], it
        while node.id not in found and node.parent in by_id:
            chain.append(node.id)
            node = by_id[node.parent]
        root = found.get(node.id, node)
        for n in [*chain, node.id]:
            found[n] = root
    return found


# --- the document -------------------------------------------------------------------------------


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    def show(x: object) -> str:
        return "" if x is None else f"{x:.2f}" if isinstance(x, float) else str(x)

    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(show(x) for x in row) + " |" for row in rows), ""]


class _Writer:
    """Collects the Markdown lines and the plots they show."""

    def __init__(self, out: Path):
        self.out = out
        self.lines: list[str] = []

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def plot(self, name: str, title: str, draw, *args) -> object:
        path = self.out / "plots" / f"{name}.png"
        result = draw(*args, path)
        self.add(f"![{title}](plots/{name}.png)", "")
        return result


def _hardest(run: RunFolder, its: list[Iteration], measure: Measure | None,
             n: int) -> tuple[int, list[str], list[list[str]]] | None:
    """The last split's hard instructions, hardest first by the signal's measure: the iteration,
    the table's header and its rows (the referee's scores and both answers, or the student's losses
    and the teacher's answer: a signal that compares no answers has no student answer to show)."""
    last = next((it for it in reversed(its) if it.values), None)
    if last is None or measure is None:
        return None
    disc = run.iteration(last.k).discrimination
    hard = [r for r in read_jsonl(disc.split, SplitRecord) if r.hard and getattr(r, measure.key) is not None]
    teacher = {r.id: r for r in read_jsonl(disc.teacher_answers, Response)}
    student = {r.id: r.text for r in read_jsonl(disc.student_answers, Response)} if disc.student_answers.exists() else {}
    rows = []
    if measure is GAP:
        header = ["#", "d", "instruction", "teacher", "student"]
        for j, r in enumerate(sorted(hard, key=lambda r: (-r.d, -(r.teacher_score or 0)))[:n], 1):
            t = teacher[r.id]
            rows.append([str(j), f"{r.d:+.1f}", _asked(t), f"**{r.teacher_score:g}** " + text_cell(t.text),
                         f"**{r.student_score:g}** " + text_cell(student.get(r.id, ""))])
    else:
        header = ["#", measure.symbol, "loss", "loss alone", "instruction", "teacher"]
        for j, r in enumerate(sorted(hard, key=lambda r: (-getattr(r, measure.key), r.id))[:n], 1):
            t = teacher[r.id]
            rows.append([str(j), f"{getattr(r, measure.key):.3f}", _number(r.loss), _number(r.loss_alone), _asked(t),
                         text_cell(t.text)])
    return last.k, header, rows


def _number(x: float | None) -> str:
    return "" if x is None else f"{x:.3f}"


def _asked(t: Response) -> str:
    return text_cell(t.instruction + (f"\n{t.input}" if t.input else ""), 300)


def write_report(root: Path, out: Path | None = None, hardest: int = HARDEST) -> Path:
    """Write `report.md`, `report.html` and `plots/` for the run at `root`; returns the HTML's path."""
    root = Path(root)
    st = collect(root)
    run, cfg = open_run(root)
    out = Path(out) if out else run.report_dir
    measure = measure_of(cfg)
    its = _read_iterations(run, st.iterations, measure)
    w = _Writer(out)
    _header(w, st, cfg, measure)
    _progress_section(w, st, its, cfg, measure)
    _heldout_section(w, st)
    _novelty_section(w, its)
    _lineage_section(w, run, its)
    _bias_section(w, its)
    _spend_section(w, run, st)
    found = _hardest(run, its, measure, hardest)
    if found:
        k, header, table = found
        w.add("## The hardest instructions", "")
        if not table:
            w.add(f"No instruction of iteration {k}'s {judged_pool(cfg)} was hard.", "")
        else:
            which = "The only hard instruction" if len(table) == 1 else f"The {len(table)} hard instructions"
            w.add(f"{which} of iteration {k}'s {judged_pool(cfg)} {measure.hardest_note}; answers are cut at "
                  f"{ANSWER_CHARS} characters (whole ones are in "
                  f"`{run.iteration(k).discrimination.root.relative_to(run.root)}/`).", "",
                  *_table(header, table))
    markdown = "\n".join(w.lines) + "\n"
    atomic.write_text(out / "report.md", markdown)
    atomic.write_text(out / "report.html", to_html(markdown, out, f"lion report: {root.name}"))
    return out / "report.html"


def judged_pool(cfg: RunConfig) -> str:
    """The pool the referee judges in this run's mode."""
    return cfg.loop.judging.pool_label + cfg.loop.judging.report_note


def _header(w: _Writer, st: Status, cfg: RunConfig, measure: Measure | None) -> None:
    total = st.spend.total
    done = sum(1 for it in st.iterations if it.kept is not None)
    w.add(f"# Lion run `{text_cell(st.run, 200)}`", "",
          f"State: **{st.state}**, {done} of {st.iterations_planned} iterations through generation"
          + (", and the closing imitation" if any(it.closing for it in st.iterations) else "") + ". "
          f"Teacher `{cfg.teacher.model}`, "
          + (f"referee `{cfg.referee.model}`, " if cfg.loop.calls_referee else "no referee, ")
          + f"generator `{cfg.generator.model}`, "
          f"student `{cfg.student.model}` ({cfg.student.train.method}, {cfg.student.strategy}"
          + cfg.loop.preference_step.report_note + "). "
          + (f"Hard: {measure.rule(cfg.loop)}; " if measure and cfg.loop.uses_split else "")
          + f"ROUGE-L threshold {cfg.loop.rouge_threshold:g}, "
          f"{cfg.loop.new_per_iteration} new instructions per iteration, {cfg.loop.hard_share:.0%} from hard ones.", "")
    if total.calls:
        budget = f" of a {usd(st.budget_usd)} budget" if st.budget_usd else ""
        w.add(f"LLM calls: {total.calls:,} ({total.prompt_tokens:,} tokens in, {total.completion_tokens:,} out), "
              f"cost {usd(total.cost_usd)}{budget}.", "")
    if st.last_error:
        stopped = "The run stopped" if st.state == "stopped" else "Last error"
        w.add(f"**{stopped}** (step {st.last_error['step'] or 'before the first'}): "
              f"{text_cell(st.last_error['message'], 400)}", "")


def _progress_section(w: _Writer, st: Status, its: list[Iteration], cfg: RunConfig, measure: Measure | None) -> None:
    split = (f"the split of the {judged_pool(cfg)} into hard ({measure.rule(cfg.loop)}) and easy, the mean "
             f"{measure.symbol}" if measure else f"the split of the {judged_pool(cfg)} into hard and easy")
    w.add("## Is the student catching up?", "",
          f"Per iteration: the pools it started from, {split}, and the generator's replies kept.", "")
    w.add(*_table(headers(REPORT), [cells(f, REPORT) for f in st.iterations]))
    for warning in st.split_warnings:  # a split (nearly) all hard or all easy, and what to change
        w.add(f"**Warning:** {text_cell(warning, 1000)}", "")
    if measure and any(it.values for it in its):
        w.add(f"### Hard share and mean {measure.symbol}", "", measure.trend, "")
        w.plot("split", f"hard share and mean {measure.symbol} per iteration", plot_split, its, measure, cfg.loop)
        w.add(f"### {measure.name[0].upper()}{measure.name[1:]}, per iteration", "", measure.histogram_note(cfg.loop), "")
        w.plot(f"{measure.key}_histogram", f"histogram of {measure.symbol} per iteration", plot_histogram, its, measure,
               cfg.loop)
        judged = [it for it in its if it.by_kind]
        w.add("### Hard share per kind", "", f"The {min(TOP_GROUPS, len(_top_kinds(judged)))} kinds judged "
              "most (a kind is the seed's category, else its first word), as hard / judged per iteration: the hard "
              "side of the generator's budget goes to the kinds high here.", "")
        w.plot("hard_by_kind", "hard share per kind and iteration", plot_hard_by_kind, judged)
        w.add("Each cell: hard / judged, then → how many of the iteration's kept new instructions were written from "
              "hard parents of the kind.", "")
        w.add(*kinds_table(judged))


def kinds_table(judged: list[Iteration]) -> list[str]:
    """Hard / judged per kind and iteration, with the kind's new instructions from hard parents: where the
    generator's hard budget went, which the README's demo figures show too."""
    return _table(["kind", *(f"iteration {it.k}" for it in judged)],
                  [[text_cell(kind, 60), *(_kind_cell(it, kind) for it in judged)] for kind in _top_kinds(judged)])


def judged_iterations(root: Path) -> list[Iteration]:
    """The run's iterations whose discrimination judged something, read as the report reads them."""
    run, cfg = open_run(root)
    return [it for it in _read_iterations(run, collect(root).iterations, measure_of(cfg)) if it.by_kind]


def _heldout_section(w: _Writer, st: Status) -> None:
    rows = ([("before", st.before)] if st.before else []) + [
        (f"iter {iteration_label(f)}", f.heldout) for f in st.iterations if f.heldout]
    w.add("## Held-out scores", "")
    if not rows:
        w.add("No held-out evaluation yet (or `evaluation.heldout: none`).", "")
        return
    w.add("The student's answers to questions kept out of every pool, judged against the teacher's in both orders; "
          "the relative score is the student's total as a percentage of the teacher's.", "")
    scored = [(n, r) for n, r in rows if r.relative_score is not None]
    if scored:
        w.plot("heldout", "held-out scores per iteration", plot_heldout, scored)
    w.add(*_table(["", "relative score %", "95% interval", "wins/ties/losses", "exact match %", "questions", "not judged"],
                  [[n, "none judged" if r.relative_score is None else percent(r.relative_score), interval_text(r),
                    "/".join(str(x) for x in r.wins_ties_losses), percent(r.exact_match), r.questions, r.failed_judgements]
                   for n, r in rows]))
    categories = sorted({c for _, r in rows for c in r.categories})
    if len(categories) > 1:
        w.add("Per category, relative score %:", "",
              *_table(["category", *(n for n, _ in rows)],
                      [[c, *(percent(r.categories.get(c)) for _, r in rows)] for c in categories]))


def _novelty_section(w: _Writer, its: list[Iteration]) -> None:
    done = [it for it in its if it.facts.generated is not None]
    if not done:
        return
    w.add("## The novelty filter", "", "Every generator reply, kept or dropped, by the first filter that dropped it.", "")
    w.plot("novelty", "generator replies kept and dropped, per reason", plot_novelty, done)
    reasons = sorted({r for it in done for r in it.facts.dropped})
    w.add(*_table(["iteration", "replies", "kept", "keep rate %", *reasons],
                  [[it.k, it.facts.generated, it.facts.kept,
                    f"{100 * it.facts.kept / it.facts.generated:.1f}" if it.facts.generated else None,
                    *(it.facts.dropped.get(r, 0) for r in reasons)] for it in done]))


def _lineage_section(w: _Writer, run: RunFolder, its: list[Iteration]) -> None:
    done = [it for it in its if it.facts.kept is not None]
    if not done:
        return
    ancestry = roots(read_jsonl(run.pools(done[-1].k).cache, Instruction))
    seeds = {r.id: r for r in ancestry.values()}
    by_category = any(s.category for s in seeds.values())
    what = "seed category" if by_category else "the first word of the seed"
    counts = {it.k: Counter(ancestry[n.id].kind for n in it.kept) for it in done}
    total = sum(counts.values(), Counter())
    groups = [g for g, _ in total.most_common(TOP_GROUPS)]
    if len(total) > TOP_GROUPS:
        for c in counts.values():
            c["other"] = sum(n for g, n in c.items() if g not in groups)
        groups.append("other")
    w.add("## Lineage of the generated instructions", "",
          f"Every kept instruction traced back through its parents to a seed, grouped by {what}. A loop that "
          "keeps drawing from a few groups narrows the data; one that reaches rare groups widens it.", "")
    w.plot("lineage", f"new instructions per iteration by {what}", plot_lineage, groups, counts, what)
    per_seed = Counter(ancestry[n.id].id for it in done for n in it.kept)
    w.add(f"{len(per_seed)} of {sum(1 for s in seeds.values() if s.origin == 'seed')} seeds have descendants. "
          "The seeds with the most:", "",
          *_table(["descendants", "group", "seed"], [[n, text_cell(seeds[i].kind, 60), text_cell(seeds[i].instruction, 200)]
                                                      for i, n in per_seed.most_common(5)]))


def _bias_section(w: _Writer, its: list[Iteration]) -> None:
    rows = [it for it in its if (it.facts.position_bias or {}).get("judged")]
    if not rows:
        return
    w.add("## The referee's position bias", "",
          "Every pair is judged in both orders. A fair referee gives the answer shown first and the one shown second "
          "the same mean score; the flip rate is the share of pairs whose winner changes with the order, and the "
          "label disagreement the share that one order alone would call hard and the other easy.", "")
    w.plot("bias", "referee position bias per iteration", plot_bias, rows)
    w.add(*_table(["iteration", "pairs", "mean shown first", "mean shown second", "flip rate %", "label disagreement %",
                   "asked again"],
                  [[it.k, b["judged"], b["position_1_mean"], b["position_2_mean"], f"{100 * b['flip_rate']:.1f}",
                    f"{100 * b['label_disagreement']:.1f}", b.get("asked_again")]
                   for it in rows for b in [it.facts.position_bias]]))


def _spend_section(w: _Writer, run: RunFolder, st: Status) -> None:
    if not run.cache_path.exists():
        return
    cache = ResponseCache(run.cache_path, read_only=True)
    try:
        usage = cache.usage()
    finally:
        cache.close()
    if not usage:
        return
    w.add("## Spend per role and step", "")
    measure = w.plot("spend", "LLM spend per step and role", plot_spend, usage)
    w.add(f"Drawn in {measure}. Answers served from the cache cost nothing and are not counted.", "")
    w.add(*_table(SPEND_HEADERS, spend_rows(st.spend)))
    kind_of = {s.name: s.kind for s in st.steps}
    by_kind: dict[str, float | None] = {}
    for u in usage:
        kind = kind_of.get(u["stage"])
        if kind is not None:
            old = by_kind.get(kind, 0.0)
            by_kind[kind] = None if old is None or u["cost_usd"] is None else old + u["cost_usd"]
    w.add("Cost per kind of step, all iterations: " + ", ".join(f"{k} {usd(v)}" for k, v in by_kind.items()) + ".", "")


_STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.2em; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; vertical-align: top; text-align: left; }
th { background: #f3f3f3; }
img { max-width: 100%; }
code { background: #f3f3f3; padding: 0 3px; }
"""


def to_html(markdown: str, base: Path, title: str) -> str:
    """The Markdown as one HTML page, each image inlined from `base` as a data URI."""
    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    tokens = md.parse(markdown)
    for token in tokens:
        for child in token.children or []:
            if child.type == "image":
                data = (base / str(child.attrGet("src"))).read_bytes()
                child.attrSet("src", "data:image/png;base64," + base64.b64encode(data).decode("ascii"))
    body = md.renderer.render(tokens, md.options, {})
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head>\n<body>\n{body}</body></html>\n")
