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
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from lion.core import atomic
from lion.core.config import RoleConfig, RunConfig, load_config
from lion.core.errors import LionError
from lion.core.records import write_jsonl
from lion.data.questions import Question, read_questions
from lion.evaluation.sources import Sources, check_source, endpoint_roles, resolve
from lion.llm.cache import ResponseCache
from lion.llm.dispatch import BudgetExceeded, Failed, Ledger, Role
from lion.llm.roles import Roles, check_models
from lion.llm.scoring import RESAMPLES, CandidateResult, Item, Score, tabulate
from lion.loop.answer_and_judge import LeftOut, judge_answers


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


def _side(answers: list[str | Failed], turn: int, missing: str) -> str | LeftOut:
    """What the judge is shown of one side for a turn: its answer, or for a later turn all its
    answers so far; `missing` and why, when it has no answer."""
    said = answers[:turn]
    if len(said) < turn or any(isinstance(a, Failed) for a in said):
        return LeftOut(f"{missing}: {_failure(answers)}")
    return said[0] if turn == 1 else "\n\n".join(f"Turn {k}: {a}" for k, a in enumerate(said, 1))


def judge_candidate(
    name: str, items: list[tuple[int, Item]], reference: list[list[str | Failed]],
    candidate: list[list[str | Failed]], judge: Role, judge_cfg: RoleConfig, out: Path,
) -> tuple[CandidateResult, Counter[str]]:
    """Judge one candidate against the reference on every item both answered; the per-item
    verdicts go to `out/judgements/NAME.jsonl`. Also returns why items were left out, with how
    often, so that a candidate of which nothing could be judged can say why."""
    asked = [it for _, it in items]
    judging = judge_answers(judge, "judge", judge_cfg, f"{name}: judge, both orders", asked,
                            [_side(reference[q], it.turn, "the reference has no answer") for q, it in items],
                            [_side(candidate[q], it.turn, "no answer") for q, it in items])
    left_out = Counter(why for why in judging.left_out if why is not None)
    rows, kept = [], []
    for it, v in zip(asked, judging.verdicts):
        if v is None:
            continue
        rows.append({"id": it.id, "category": it.category, "turn": it.turn, "reference_score": v.a_score,
                     "candidate_score": v.b_score, "reference_first": v.a_first, "candidate_first": v.b_first,
                     "raw_reference_first": v.raw_a_first, "raw_candidate_first": v.raw_b_first, "error": v.error})
        if v.error is None:
            kept.append((it.category, it.turn, v.a_score, v.b_score))
        else:
            left_out[v.error] += 1
    write_jsonl(out / "judgements" / f"{name}.jsonl", rows)
    return tabulate(name, kept, asked), left_out


def _failure(answers: list[str | Failed]) -> str:
    failed = [a for a in answers if isinstance(a, Failed)]
    return failed[0].reason if failed else "a later turn was not asked"


def _commonest(reasons: Counter[str], total: int) -> str:
    reason, count = reasons.most_common(1)[0]
    return f"commonest reason, {count} of {total}: {reason.rstrip('.')}"


def _cell(score: Score) -> str:
    if score.relative is None:
        return "n/a"
    return f"{score.relative:.1f}% [{score.low:.1f}, {score.high:.1f}]"


def markdown(reference: str, results: list[CandidateResult], questions: list[Question], judge: str,
             failed: list[str] = ()) -> str:
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
    if failed:
        lines += ["", "## Failed", "", *(f"- {f}" for f in failed)]
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


def write_results(reference: str, results: list[CandidateResult], questions: list[Question], judge: str, out: Path,
                  failed: list[str] = (), spent_usd: dict[str, float | None] | None = None) -> None:
    atomic.write_json(out / "results.json", {"reference": reference, "judge": judge, "questions": len(questions),
                                             "resamples": RESAMPLES, "candidates": [asdict(r) for r in results],
                                             "failed": list(failed), "spent_usd_this_run": spent_usd or {}})
    atomic.write_text(out / "results.md", markdown(reference, results, questions, judge, failed))
    chart(reference, results, out / "chart.png")


def named(arg: str, option: str) -> tuple[str, str]:
    name, sep, spec = arg.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z0-9_.\-]+", name) or not spec:
        raise LionError(f"{option} {arg}: expected NAME=SOURCE, NAME made of letters, digits, '.', '_' or '-'.")
    return name, spec


@dataclass
class Evaluation:
    """What `run_evaluation` found: each judged candidate's result, what each source (its
    answers and, for a candidate, its judgements) cost in this run, None where a price is
    unknown, and a sentence for each source that gave nothing to judge."""

    reference: str
    results: list[CandidateResult]
    spent_usd: dict[str, float | None]
    failed: list[str] = field(default_factory=list)


class EvaluationFailed(LionError):
    """A source gave nothing to judge, or a call stopped it; the other candidates' results are
    written all the same, and kept here for the caller to show."""

    def __init__(self, message: str, evaluation: Evaluation):
        super().__init__(message)
        self.evaluation = evaluation


def run_evaluation(
    questions_file: Path, reference: str, candidates: list[str], judge_config: Path, overrides: list[str], out: Path,
    turns: int = 1,
) -> Evaluation:
    """Answer, judge and tabulate; everything paid for is cached in `out/cache.sqlite`, so that
    adding a candidate later costs only that candidate's answers and judgements. With `turns`
    above 1, multi-turn questions are answered as conversations and every turn is judged.

    Every endpoint that will be called is checked before `out` is made. A candidate with no
    usable answer, or none of whose answers could be judged, is a failure: the others are
    still judged and written, then `EvaluationFailed` says which failed and why. A reference
    with no usable answer stops the evaluation, since nothing can be judged against it."""
    ref_name, ref_spec = named(reference, "--reference")
    specs = [named(c, "--candidate") for c in candidates]
    names = [ref_name, *(n for n, _ in specs)]
    if len(set(names)) < len(names):
        raise LionError(f"names must differ: {', '.join(names)}.")
    questions = read_questions(questions_file)
    cfg = load_config(judge_config, overrides)
    sources = [(f"reference {ref_name}", ref_name, ref_spec), *((f"candidate {n}", n, spec) for n, spec in specs)]
    for _, name, spec in sources:
        check_source(name, spec, questions, turns)  # before `out` is made, so bad input leaves nothing
    check_evaluation_endpoints(sources, judge_config, cfg)
    out.mkdir(parents=True, exist_ok=True)
    cache = ResponseCache(out / "cache.sqlite")
    try:
        answering = Sources(cache, cfg, cfg.torch_threads())
        try:
            answering.seed_roles(judge_config, cfg, Roles.from_config(cfg, cache))
            for who, name, spec in sources:
                source = resolve(name, spec)
                if source.kind == "endpoint":  # built now, so that each source's spend is counted from the start
                    try:
                        answering.roles(source.path)
                    except LionError as e:
                        raise LionError(f"{who} ({source.path}): {e}") from None
            return _evaluate(answering, judge_config, sources, questions, turns, out)
        finally:
            answering.close()
    finally:
        cache.close()


def check_evaluation_endpoints(sources: list[tuple[str, str, str]], judge_config: Path, cfg: RunConfig) -> None:
    """The judge's endpoint and every endpoint a source names: key set, server there, model
    served (`check_models`), each once; a failure names the source, not the config's role."""
    seen: set[tuple[str, str]] = set()
    for who, role, rc in endpoint_roles(sources, judge_config, cfg):
        if (rc.endpoint(), rc.model) in seen:
            continue
        seen.add((rc.endpoint(), rc.model))
        try:
            check_models([(role, rc)], cfg.torch_threads())
        except LionError as e:
            raise LionError(_blamed(who, e, role)) from None


def _blamed(who: str, error: LionError, role: str | None) -> str:
    """An error raised in a config role's name, told in the name of the source it served."""
    text = str(error)
    if role is not None and text.startswith(f"{role}: "):
        text = text[len(role) + 2:]
    return f"{who}: {text}"


def _evaluate(answering: Sources, judge_config: Path, sources: list[tuple[str, str, str]], questions: list[Question],
              turns: int, out: Path) -> Evaluation:
    cfg, roles = answering.roles(judge_config)
    spending = _Spending(answering.all_roles(), answering.cache)
    (ref_who, ref_name, ref_spec), candidates = sources[0], sources[1:]
    answers: dict[str, list[list[str | Failed]]] = {}
    with spending.of(ref_name, _answering_roles(answering, ref_name, ref_spec)):
        answers[ref_name] = _answers(answering, ref_who, ref_name, ref_spec, questions, turns, spending, out)
    unanswered = _unanswered(ref_who, answers[ref_name])
    if unanswered:
        raise LionError(f"{unanswered.rstrip('.')}; nothing can be judged against it.")
    items = items_of(questions, turns)
    results, failed = [], []
    for who, name, spec in candidates:
        with spending.of(name, [*_answering_roles(answering, name, spec), roles.judge]):
            try:
                answers[name] = _answers(answering, who, name, spec, questions, turns, spending, out)
            except LionError as e:
                failed.append(str(e))
                continue
            unanswered = _unanswered(who, answers[name])
            if unanswered:
                failed.append(unanswered)
                continue
            try:
                result, left_out = judge_candidate(name, items, answers[ref_name], answers[name], roles.judge, cfg.judge, out)
            except LionError as e:
                failed.append(_stopped(f"{who} (judging)", e, "judge", spending, name))
                continue
        if result.overall.judged == 0:
            failed.append(f"{who}: nothing could be judged, all {len(items)} items left out "
                          f"({_commonest(left_out, len(items))}).")
            continue
        results.append(result)
    evaluation = Evaluation(ref_name, results, dict(spending.usd), failed)
    write_results(ref_name, results, questions, cfg.judge.model, out, failed, evaluation.spent_usd)
    if failed:
        raise EvaluationFailed(" ".join(failed), evaluation)
    return evaluation


def _answering_roles(answering: Sources, name: str, spec: str) -> list[Role]:
    """The role that answers for a source, if an endpoint does."""
    source = resolve(name, spec)
    return [getattr(answering.roles(source.path)[1], source.role)] if source.kind == "endpoint" else []


def _answers(answering: Sources, who: str, name: str, spec: str, questions: list[Question], turns: int,
             spending: _Spending, out: Path) -> list[list[str | Failed]]:
    """A source's answers, written to `out/answers/NAME.jsonl`; an error that stops them names the source."""
    source = resolve(name, spec)
    try:
        found = answering.answers(name, spec, questions, turns)
    except LionError as e:
        raise LionError(_stopped(who, e, source.role if source.kind == "endpoint" else None, spending, name)) from None
    write_jsonl(out / "answers" / f"{name}.jsonl", [
        {"id": q.id, "category": q.category, "answers": [a if isinstance(a, str) else {"failed": a.reason} for a in said]}
        for q, said in zip(questions, found)])
    return found


def _stopped(who: str, error: LionError, role: str | None, spending: _Spending, name: str) -> str:
    if isinstance(error, BudgetExceeded):  # its own text would give this source's spend as the total
        return (f"{who}: the next call could pass budget.max_usd; ${spending.cache.spent_usd():.2f} is spent in this "
                f"evaluation's cache, ${spending.so_far():.2f} of it by {name} in this run, and every answer so far is cached. "
                "Raise budget.max_usd (with --set) and run the same command again to go on.")
    return _blamed(who, error, role)


def _unanswered(who: str, answers: list[list[str | Failed]]) -> str | None:
    """A sentence when no question has a usable first answer; None otherwise."""
    if any(said and isinstance(said[0], str) for said in answers):
        return None
    reasons = Counter(said[0].reason if said else "not asked" for said in answers)
    return f"{who}: none of the {len(answers)} questions got a usable answer ({_commonest(reasons, len(answers))})."


class _Spending:
    """What each source costs in this run.

    A ledger starts from all the cache holds (a budget counts across resumes), so its total
    would give a free, fully cached reference everything the evaluation had ever spent.
    Sources are answered and judged one after another, so what the ledgers gain while one is
    at work is its cost.
    """

    def __init__(self, roles: list[Role], cache: ResponseCache):
        self.roles, self.cache = roles, cache
        self.usd: dict[str, float | None] = {}
        self._start: dict[int, tuple[Ledger, float]] = {}

    def so_far(self) -> float:
        return sum(ledger.spent - start for ledger, start in self._start.values())

    @contextmanager
    def of(self, name: str, used: list[Role]) -> Iterator[None]:
        """Count `name`'s spend while the block runs; `used` are the roles it calls, whose
        prices say whether the count is complete."""
        self._start = {id(role.ledger): (role.ledger, role.ledger.spent) for role in self.roles}
        try:
            yield
        finally:
            known = all(role.price is not None for role in used)
            self.usd[name] = round(self.so_far(), 6) if known else None
            self._start = {}


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
