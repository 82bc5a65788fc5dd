"""Generation: new instructions modelled on hard and easy ones, filtered, then the pool update.

Hard parents ask for the same domain and task type (aiming at the student's weak spots), easy
parents for the same domain but a rarer topic (keeping diversity). Parents are drawn by a
seeded generator per attempt, so a resumed stage asks exactly the same questions and gets its
answers from the cache.
"""

from __future__ import annotations

import math
import random
import string
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from lion.core import atomic
from lion.core.jsonio import read_texts
from lion.core.progress import bar
from lion.core.prompts import render
from lion.core.records import Instruction, write_jsonl
from lion.data.similarity import NoveltyIndex
from lion.llm.dispatch import Call, Failed
from lion.loop.context import Context
from lion.loop.stages.discrimination import SplitRecord

SIDES = ("hard", "easy")


class Candidate(BaseModel):
    side: str
    attempt: int
    parent: str
    text: str
    finish_reason: str
    kept: bool
    reason: str | None = None
    rouge: float | None = None
    nearest: str | None = None
    id: str | None = None


def output_problem(text: str, finish_reason: str) -> str | None:
    """The method's filters for a generator reply; None when the reply may be an instruction."""
    if finish_reason == "length":
        return "cut off by the length limit"
    t = text.strip()
    if not t:
        return "empty"
    if len(t.splitlines()) > 1:  # asked for one line: more is a preamble, a list, or text posing as records
        return "several lines"
    if "instruction" in t.lower():
        return "mentions 'instruction'"
    if len(t.split()) <= 3:
        return "3 words or fewer"
    if not t[0].isascii():
        return "starts with a non-ASCII character"
    if t[0] in string.punctuation:
        return "starts with punctuation"
    return None


@dataclass
class Side:
    name: str
    parents: list[Instruction]
    quota: int
    budget: int
    used: int = 0
    kept: list[Instruction] = field(default_factory=list)

    @property
    def wanted(self) -> int:
        return min(self.quota - len(self.kept), self.budget - self.used)


class ParentDraw:
    """The example for each generator call, a function of the attempt number alone, so that a
    resumed stage asks the same questions and finds its answers in the cache.

    Plain: any of the parents. Even: the attempts cycle through the parents' kinds (category,
    else first word) in a seeded order, then take any parent of that kind, so no kind gets more
    than its share of the calls however many of the parents it holds.
    """

    def __init__(self, parents: list[Instruction], even: bool, key: str) -> None:
        self.parents, self.key = parents, key
        self.kinds: dict[str, list[Instruction]] = {}
        if even:
            for p in parents:
                self.kinds.setdefault(p.kind, []).append(p)
        self.order = sorted(self.kinds)
        random.Random(f"{key}:kinds").shuffle(self.order)

    def parent(self, j: int) -> Instruction:
        rng = random.Random(f"{self.key}:{j}")
        if not self.order:
            return rng.choice(self.parents)
        return rng.choice(self.kinds[self.order[j % len(self.order)]])


def guard_index(files: list[str]) -> NoveltyIndex | None:
    """Every question of the `loop.guard` files (evaluation sets no new instruction may
    resemble: a contamination guard), or None when there are none."""
    if not files:
        return None
    index = NoveltyIndex()
    for path in files:
        index.add_many([(f"{Path(path).name}, line {line}", text) for line, text in read_texts(Path(path), "instruction", "guard file")])
    return index


def _quotas(n: int, hard_share: float, n_hard: int, n_easy: int) -> tuple[int, int, str | None]:
    want_hard = round(n * hard_share)
    want_easy = n - want_hard
    if n_hard == 0 and n_easy == 0:
        return 0, 0, "no instruction was judged, so there is nothing to generate from"
    if n_hard == 0:
        return 0, n, "no hard instructions this iteration: all new instructions come from easy ones"
    if n_easy == 0:
        return n, 0, "no easy instructions this iteration: all new instructions come from hard ones"
    return want_hard, want_easy, None


def run_generation(
    ctx: Context,
    k: int,
    cache_pool: list[Instruction],
    split: list[SplitRecord],
    heldout_ids: set[str],
    guard: NoveltyIndex | None = None,
) -> tuple[list[Instruction], dict]:
    loop = ctx.cfg.loop
    by_id = {it.id: it for it in cache_pool}
    if loop.uses_referee:
        hard = [by_id[r.id] for r in split if r.hard]
        easy = [by_id[r.id] for r in split if not r.hard]
    else:  # no referee: both prompts draw from the whole Cache Pool, in the same hard:easy ratio
        hard = easy = cache_pool
    q_hard, q_easy, note = _quotas(loop.new_per_iteration, loop.hard_share, len(hard), len(easy))
    if note:
        ctx.say(f"  note: {note}")
    sides = {
        "hard": Side("hard", hard, q_hard, math.ceil(q_hard * loop.max_attempts_factor)),
        "easy": Side("easy", easy, q_easy, math.ceil(q_easy * loop.max_attempts_factor)),
    }
    pool = NoveltyIndex()
    pool.add_many([(it.id, it.instruction) for it in cache_pool])
    known = set(by_id)
    candidates: list[Candidate] = []
    rounds = 0
    draws = {name: ParentDraw(side.parents, loop.spreads_evenly, f"{loop.seed}:{k}:{name}") for name, side in sides.items()}
    while any(s.wanted > 0 for s in sides.values()):
        rounds += 1
        plan: list[tuple[Side, int, Instruction]] = []
        for s in sides.values():
            for j in range(s.used, s.used + max(s.wanted, 0)):
                plan.append((s, j, draws[s.name].parent(j)))
            s.used += max(s.wanted, 0)
        calls = [
            Call(
                [{"role": "user", "content": render(f"generator_{s.name}", instruction=p.instruction, input=p.input)}],
                sample=k * 1_000_000 + j,
            )
            for s, j, p in plan
        ]
        outs = ctx.roles.generator.run(calls, f"iter {k} generation: round {rounds}")
        with bar(f"iter {k} generation: filters, round {rounds}", len(plan)) as advance:
            for (s, j, parent), out in zip(plan, outs):
                advance()
                if isinstance(out, Failed):
                    candidates.append(Candidate(side=s.name, attempt=j, parent=parent.id, text="", finish_reason="",
                                                kept=False, reason=f"the call was rejected: {out.reason}"))
                    continue
                text = out.text.strip()
                cand = Candidate(side=s.name, attempt=j, parent=parent.id, text=out.text, finish_reason=out.finish_reason, kept=False)
                candidates.append(cand)
                cand.reason = output_problem(text, out.finish_reason)
                if cand.reason:
                    continue
                new = Instruction.make(text, "", origin=f"from-{s.name}", parent=parent.id, iteration=k,
                                       category=parent.category)
                cand.id = new.id
                if new.id in heldout_ids:
                    cand.reason = "same as a held-out instruction"
                    continue
                if new.id in known:
                    cand.reason = "already in the pool"
                    continue
                score, item = pool.nearest(text)
                cand.rouge, cand.nearest = score, pool.key(item) if item is not None else None
                if score > loop.rouge_threshold:
                    cand.reason = "too similar to a pool instruction"
                    continue
                hit = guard.above(text, loop.guard_threshold) if guard is not None else None
                if hit is not None:
                    cand.reason = f"resembles an evaluation question ({guard.key(hit[1])}, ROUGE-L {hit[0]:.2f})"
                    continue
                cand.kept, cand.reason = True, None
                s.kept.append(new)
                pool.add(new.id, new.instruction)
                known.add(new.id)
    new_items = sides["hard"].kept + sides["easy"].kept
    dropped: dict[str, int] = {}
    for c in candidates:
        if not c.kept:
            dropped[c.reason] = dropped.get(c.reason, 0) + 1
    shortfalls = [
        f"{s.name}: {len(s.kept)} of {s.quota} after {s.used} attempts"
        for s in sides.values()
        if len(s.kept) < s.quota
    ]
    if shortfalls:
        ctx.say("  note: the generator ran out of attempts before filling the quota (" + "; ".join(shortfalls) + ")")
    stats = {
        "wanted": loop.new_per_iteration,
        "generated": len(candidates),
        "kept": len(new_items),
        "kept_from_hard": len(sides["hard"].kept),
        "kept_from_easy": len(sides["easy"].kept),
        "dropped": dropped,
        "notes": [n for n in [note] if n] + shortfalls,
    }
    out_dir = ctx.run.iteration_dir(k) / "generation"
    write_jsonl(out_dir / "candidates.jsonl", candidates)
    write_jsonl(out_dir / "new_instructions.jsonl", new_items)
    atomic.write_json(out_dir / "stats.json", stats)
    return new_items, stats
