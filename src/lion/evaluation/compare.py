"""The paper's headline table: each candidate's total judge score as a percentage of a
reference model's, overall and per category, with win/tie/loss counts and the uncertainty
that a few dozen questions carry.

Every question is judged with the reference and the candidate in both orders (the judge
prompt, through `lion.llm.judging`), and a side's score is the mean of its two scores, which
cancels a judge's preference for the first or second position; `lion.llm.scoring` adds the
scores up with their bootstrap intervals. A question whose
verdict stays unreadable, or that a side has no answer to, is left out of that candidate's
totals and counted.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path

import numpy as np

from lion.core import atomic
from lion.core.config import RoleConfig, load_config
from lion.core.errors import LionError
from lion.core.records import write_jsonl
from lion.data.questions import Question, read_questions
from lion.evaluation.sources import Sources, check_source
from lion.llm.cache import ResponseCache
from lion.llm.dispatch import Failed, Role
from lion.llm.judging import PairItem, judge_pairs
from lion.llm.roles import Roles
from lion.llm.scoring import RESAMPLES, CandidateResult, Item, Score, tabulate


def items_of(questions: list[Question], turns: int) -> list[tuple[int, Item]]:
    """(question index, item) for each question's first `turns` turns."""
    out = []
    for i, q in enumerate(questions):
        out.append((i, Item(q.id, q.category, 1, q.instruction, q.input)))
        for t in range(2, min(turns, len(q.turns)) + 1):
            said = "\n\n".join(f"Turn {k}: {text}" for k, text in enumerate(q.turns[:t], 1))
            text = (f"A conversation in {t} turns. Rate the answers to turn {t}, read in the light of the earlier "
                    f"turns.\n\n{said}")
            out.append((i, Item(f"{q.id}#{t}", q.category, t, text, q.input)))
    return out


def _side(answers: list[str | Failed], turn: int) -> str | None:
    """What the judge is shown of one side for a turn: its answer, or for a later turn all its
    answers so far; None when it has no answer."""
    said = answers[:turn]
    if len(said) < turn or any(isinstance(a, Failed) for a in said):
        return None
    return said[0] if turn == 1 else "\n\n".join(f"Turn {k}: {a}" for k, a in enumerate(said, 1))


def judge_candidate(
    name: str, items: list[tuple[int, Item]], reference: list[list[str | Failed]],
    candidate: list[list[str | Failed]], judge: Role, judge_cfg: RoleConfig, out: Path,
) -> CandidateResult:
    """Judge one candidate against the reference on every item both answered; the per-item
    verdicts go to `out/judgements/NAME.jsonl`."""
    sides = [(it, _side(reference[q], it.turn), _side(candidate[q], it.turn)) for q, it in items]
    answered = [(it, a, b) for it, a, b in sides if a is not None and b is not None]
    pairs = [PairItem(it.id, it.instruction, it.input, a, b) for it, a, b in answered]
    judged = judge_pairs(judge, "judge", pairs, judge_cfg, f"{name}: judge, both orders")
    rows, kept = [], []
    for (it, _, _), v in zip(answered, judged.verdicts):
        rows.append({"id": it.id, "category": it.category, "turn": it.turn, "reference_score": v.a_score,
                     "candidate_score": v.b_score, "reference_first": v.a_first, "candidate_first": v.b_first,
                     "raw_reference_first": v.raw_a_first, "raw_candidate_first": v.raw_b_first, "error": v.error})
        if v.error is None:
            kept.append((it.category, it.turn, v.a_score, v.b_score))
    write_jsonl(out / "judgements" / f"{name}.jsonl", rows)
    return tabulate(name, kept, [it for _, it in items])


def _cell(score: Score) -> str:
    if score.relative is None:
        return "n/a"
    return f"{score.relative:.1f}% [{score.low:.1f}, {score.high:.1f}]"


def markdown(reference: str, results: list[CandidateResult], questions: list[Question], judge: str) -> str:
    lines = [
        f"# Relative scores against {reference}",
        "",
        (f"{len(questions)} questions; judge: {judge}; each pair judged in both orders. A score is the candidate's "
         f"total judge score as a percentage of {reference}'s, with a bootstrap 95% interval over questions."),
        "",
        "| candidate | relative score [95% interval] | wins | ties | losses | judged | left out |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {r.name} | {_cell(r.overall)} | {r.wins} | {r.ties} | {r.losses} | {r.overall.judged} | {r.left_out} |"
              for r in results]
    categories = sorted({q.category for q in questions})
    lines += ["", "## Per category", "", "| category | questions | " + " | ".join(r.name for r in results) + " |",
              "|---|---|" + "---|" * len(results)]
    for c in categories:
        count = sum(q.category == c for q in questions)
        lines.append(f"| {c} | {count} | " + " | ".join(_cell(r.categories[c]) for r in results) + " |")
    if results and results[0].turns:
        lines += ["", "## Per turn", "", "| turn | " + " | ".join(r.name for r in results) + " |",
                  "|---|" + "---|" * len(results)]
        lines += [f"| {t} | " + " | ".join(_cell(r.turns[t]) for r in results) + " |" for t in results[0].turns]
    return "\n".join(lines) + "\n"


def chart(reference: str, results: list[CandidateResult], path: Path) -> None:
    """Grouped bars per category and overall, with the intervals, against the reference's 100%."""
    from lion.core.plots import plt, save

    groups = [*sorted(results[0].categories), "overall"] if results else ["overall"]
    width = 0.8 / max(1, len(results))
    fig, ax = plt.subplots(figsize=(max(6.0, (0.45 + 0.25 * len(results)) * len(groups) + 2.5), 4.2))
    x = np.arange(len(groups))
    for j, r in enumerate(results):
        scores = [r.categories[g] if g != "overall" else r.overall for g in groups]
        values = np.array([s.relative if s.relative is not None else np.nan for s in scores])
        errors = np.array([[v - s.low if s.relative is not None else 0 for v, s in zip(values, scores)],
                           [s.high - v if s.relative is not None else 0 for v, s in zip(values, scores)]])
        ax.bar(x + (j - (len(results) - 1) / 2) * width, values, width, yerr=errors, capsize=2, label=r.name)
    ax.axhline(100, color="black", linewidth=0.8, linestyle="--", label=f"{reference} (100%)")
    ax.set_xticks(x, groups, rotation=30, ha="right")
    ax.set_ylabel(f"score relative to {reference} (%)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    save(fig, path)


def write_results(reference: str, results: list[CandidateResult], questions: list[Question], judge: str, out: Path) -> None:
    atomic.write_json(out / "results.json", {"reference": reference, "judge": judge, "questions": len(questions),
                                             "resamples": RESAMPLES, "candidates": [asdict(r) for r in results]})
    atomic.write_text(out / "results.md", markdown(reference, results, questions, judge))
    chart(reference, results, out / "chart.png")


def named(arg: str, option: str) -> tuple[str, str]:
    name, sep, spec = arg.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z0-9_.\-]+", name) or not spec:
        raise LionError(f"{option} {arg}: expected NAME=SOURCE, NAME made of letters, digits, '.', '_' or '-'.")
    return name, spec


def run_evaluation(
    questions_file: Path, reference: str, candidates: list[str], judge_config: Path, overrides: list[str], out: Path,
    turns: int = 1,
) -> list[CandidateResult]:
    """Answer, judge and tabulate; everything paid for is cached in `out/cache.sqlite`, so that
    adding a candidate later costs only that candidate's answers and judgements. With `turns`
    above 1, multi-turn questions are answered as conversations and every turn is judged."""
    ref_name, ref_spec = named(reference, "--reference")
    specs = [named(c, "--candidate") for c in candidates]
    names = [ref_name, *(n for n, _ in specs)]
    if len(set(names)) < len(names):
        raise LionError(f"names must differ: {', '.join(names)}.")
    questions = read_questions(questions_file)
    cfg = load_config(judge_config, overrides)
    for name, spec in [(ref_name, ref_spec), *specs]:
        check_source(name, spec, questions, turns)  # before `out` is made, so bad input leaves nothing
    out.mkdir(parents=True, exist_ok=True)
    cache = ResponseCache(out / "cache.sqlite")
    roles = Roles.from_config(cfg, cache)
    sources = Sources(cache, cfg, cfg.torch_threads())
    sources.seed_roles(judge_config, cfg, roles)
    answers = {}
    for name, spec in [(ref_name, ref_spec), *specs]:
        answers[name] = sources.answers(name, spec, questions, turns)
        write_jsonl(out / "answers" / f"{name}.jsonl", [
            {"id": q.id, "category": q.category,
             "answers": [a if isinstance(a, str) else {"failed": a.reason} for a in said]}
            for q, said in zip(questions, answers[name])])
    items = items_of(questions, turns)
    results = [judge_candidate(name, items, answers[ref_name], answers[name], roles.judge, cfg.judge, out)
               for name, _ in specs]
    write_results(ref_name, results, questions, cfg.judge.model, out)
    return results


def table_lines(reference: str, results: list[CandidateResult]) -> list[str]:
    """The table as printed: overall, then per category."""
    width = max(12, *(len(r.name) for r in results))
    lines = [f"{'candidate':<{width}}  relative to {reference} [95% interval]   W/T/L      judged"]
    for r in results:
        lines.append(f"{r.name:<{width}}  {_cell(r.overall):<34}  {r.wins}/{r.ties}/{r.losses:<6} {r.overall.judged}")
    for category in sorted(results[0].categories) if results else []:
        cells = "   ".join(f"{r.name}: {_cell(r.categories[category])}" for r in results)
        lines.append(f"  {category:<14} {cells}")
    for turn in results[0].turns if results else []:
        cells = "   ".join(f"{r.name}: {_cell(r.turns[turn])}" for r in results)
        lines.append(f"  turn {turn:<9} {cells}")
    return lines
