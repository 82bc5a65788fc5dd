"""Held-out evaluation after each iteration: exact match against accepted answers where there
are any (the arena's), and the paper's relative score with the teacher as the reference.

The relative score is the student's total judge score as a percentage of the teacher's, each
pair judged in both orders, with its bootstrap interval, win/tie/loss counts and per-category
scores as `lion eval` computes them; items whose judgement stays unreadable are left out of
both totals and counted.
"""

from __future__ import annotations

import re
import string
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from lion.core import atomic
from lion.core.config import RunConfig
from lion.core.records import Instruction, write_jsonl
from lion.data.questions import read_questions
from lion.llm.judging import Verdict
from lion.llm.position_bias import bias_stats
from lion.llm.scoring import Item, tabulate
from lion.loop.answer_and_judge import ask_teacher, judge_answers
from lion.loop.answers import student_answers
from lion.loop.context import Context
from lion.loop.failures import nothing_usable
from lion.loop.run_folder import HeldoutFiles

_PUNCT = re.compile(f"[{re.escape(string.punctuation)}]")


class HeldoutItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    instruction: str
    input: str = ""
    references: list[str]
    category: str = ""

    def as_instruction(self) -> Instruction:
        return Instruction.make(self.instruction, self.input)


def build_heldout(cfg: RunConfig, seeds: list[Instruction]) -> list[HeldoutItem]:
    """The held-out questions of a run; a question that is also a seed is left out of them.

    The arena's come with accepted answers, for exact match; a question file's are judged only.
    """
    if cfg.evaluation.heldout == "none":
        return []
    if cfg.evaluation.heldout == "arena":
        from lion.arena import heldout_set

        found = [(h["instruction"], h["input"], h["references"], h["family"])
                 for h in heldout_set(cfg.evaluation.heldout_size, cfg.loop.seed, cfg.data.arena_sums,
                                      cfg.data.arena_procedures, cfg.data.arena_facts, cfg.data.arena_wide)]
    else:
        found = [(q.instruction, q.input, [], q.category) for q in read_questions(Path(cfg.evaluation.heldout))]
    seed_ids = {s.id for s in seeds}
    items = []
    for instruction, given, references, category in found:
        item = Instruction.make(instruction, given)
        if item.id not in seed_ids:
            items.append(HeldoutItem(id=item.id, instruction=item.instruction, input=item.input,
                                     references=references, category=category))
    return items


def normalize_answer(text: str) -> str:
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def exact_match(answer: str, references: list[str]) -> bool:
    return normalize_answer(answer) in {normalize_answer(r) for r in references}


class HeldoutResult(BaseModel):
    """One student's held-out scores, as `heldout.json` and the iteration records hold them."""

    exact_match: float | None = None  # % of the questions with accepted answers (the arena's)
    relative_score: float | None = None  # student total / teacher total x 100
    relative_interval: list[float | None] = Field(default_factory=lambda: [None, None])  # bootstrap 95%
    wins_ties_losses: list[int] = Field(default_factory=list)
    categories: dict[str, float | None] = Field(default_factory=dict)
    questions: int = 0
    failed_judgements: int = 0
    judge_bias: dict = Field(default_factory=dict)  # see lion.llm.position_bias.bias_stats


def evaluate_heldout(ctx: Context, student_dir: Path, items: list[HeldoutItem], name: str, out: HeldoutFiles) -> HeldoutResult:
    """Score one student on the held-out set; per-item results go beside the scores."""
    instrs = [it.as_instruction() for it in items]
    teacher = ask_teacher(ctx, instrs, f"{name}: teacher answers (held-out)")
    s = student_answers(ctx, student_dir, instrs, f"{name}: student answers (held-out)")
    judging = judge_answers(ctx.roles.judge, "judge", ctx.cfg.judge, f"{name}: judge (held-out)", items,
                            teacher.reference(), s)
    rows, scored, em = [], [], 0
    for it, c, a, v, why in zip(items, teacher.results, s, judging.verdicts, judging.left_out):
        hit = exact_match(a, it.references) if it.references else None
        em += bool(hit)
        if v is None:
            v = Verdict(it.id, error=why)
        elif v.error is None:
            scored.append((it.category, 1, v.a_score, v.b_score))
        rows.append(
            {"id": it.id, "category": it.category, "teacher": getattr(c, "text", None), "student": a, "exact_match": hit,
             "teacher_score": v.a_score, "student_score": v.b_score, "error": v.error}
        )
    write_jsonl(out.items, rows)
    table = tabulate(name, scored, [Item(it.id, it.category, 1, it.instruction, it.input) for it in items])
    with_references = sum(bool(it.references) for it in items)
    result = HeldoutResult(
        exact_match=round(100 * em / with_references, 2) if with_references else None,
        relative_score=table.overall.relative,
        relative_interval=[table.overall.low, table.overall.high],
        wins_ties_losses=[table.wins, table.ties, table.losses],
        categories={c: score.relative for c, score in table.categories.items()},
        questions=len(items),
        failed_judgements=sum(r["error"] is not None for r in rows),
        judge_bias={"mode": judging.judged.mode, **bias_stats(judging.judged.verdicts, ctx.cfg.loop.tau)},
    )
    atomic.write_json(out.scores, result.model_dump(mode="json"))
    if items and not scored:
        raise nothing_usable("judge", f"none of the {len(items)} held-out questions was judged ({name})",
                             [r["error"] for r in rows])
    return result
