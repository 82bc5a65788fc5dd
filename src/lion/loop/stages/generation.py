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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from lion.core.config import LoopConfig
from lion.core.jsonio import read_texts
from lion.core.modes import SIDES
from lion.core.progress import bar
from lion.core.prompts import render
from lion.core.records import Instruction, SplitRecord, write_jsonl
from lion.data.similarity import NoveltyIndex
from lion.llm.dispatch import Call, Failed, Result
from lion.loop.context import Context
from lion.loop.failures import nothing_usable
from lion.loop.run_folder import GenerationFiles
from lion.loop.stage_results import GenerationResult


class Candidate(BaseModel):
    side: str
    attempt: int
    parent: str
    text: str
    finish_reason: str
    kept: bool
    reason: str | None = None
    rouge: float | None = None  # ROUGE-L to the pool instruction `nearest` names (see NEAREST_WITHIN)
    nearest: str | None = None
    rouge_below: float | None = None  # set when no pool instruction reaches this floor: how close it came
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


def stalled(hard: list[Instruction]) -> Callable[[Instruction], bool]:
    """Whether a hard instruction's line has stalled: the student has trained on it and fails it
    again. A hard instruction written from a hard parent is one (the student trained on the
    parent, and still fails its kind of task), and so is a parent whose children of the hard
    side are hard again. `loop.allocation: learnable` gives such lines no more children."""
    failed_again = {h.parent for h in hard if h.origin == "from-hard"}
    return lambda it: it.origin == "from-hard" or it.id in failed_again


def choose_sides(loop: LoopConfig, cache_pool: list[Instruction], split: list[SplitRecord]) -> tuple[dict[str, Side], list[str]]:
    """Each side's parents, quota and attempt budget, and notes: when one side has no parents,
    and what the allocation left out.

    With a split the signal decides the parents (and `loop.allocation` which hard ones); without
    one both sides draw from the whole Cache Pool, so the hard:easy ratio of prompts stays as
    configured.
    """
    by_id = {it.id: it for it in cache_pool}
    hard, easy = ([by_id[r.id] for r in split if r.hard is want] for want in (True, False))
    notes = []
    chosen = loop.allocating.hard_side(hard, stalled(hard))
    if hard and not chosen and not easy:  # nothing else to build on: the paper's rule, rather than nothing
        notes.append(f"all {len(hard)} hard instructions have stalled and none is easy, so the hard side keeps them all")
        chosen = hard
    elif len(chosen) < len(hard):
        notes.append(f"{len(hard) - len(chosen)} of the {len(hard)} hard instructions have stalled (written from a hard "
                     "parent, or with hard children hard again) and get no children (loop.allocation: learnable)")
    parents = loop.parent_source.sides(cache_pool, chosen, easy)
    q_hard, q_easy, note = _quotas(loop.new_per_iteration, loop.hard_share, len(parents["hard"]), len(parents["easy"]))
    quotas = {"hard": q_hard, "easy": q_easy}
    sides = {
        name: Side(name, parents[name], quotas[name], math.ceil(quotas[name] * loop.max_attempts_factor)) for name in SIDES
    }
    return sides, notes + [note] if note else notes


@dataclass(frozen=True)
class Attempt:
    """One generator call of a round: its side, its attempt number and the parent it shows."""

    side: Side
    number: int
    parent: Instruction


def plan_round(sides: dict[str, Side], draws: dict[str, ParentDraw]) -> list[Attempt]:
    """The next attempts of every side still short of its quota, hard side first.

    Attempt numbers continue from the side's previous rounds, so the same run always asks the
    same questions in the same order, and a resumed one finds every answer in the cache.
    """
    plan: list[Attempt] = []
    for s in sides.values():
        wanted = max(s.wanted, 0)
        plan += [Attempt(s, j, draws[s.name].parent(j)) for j in range(s.used, s.used + wanted)]
        s.used += wanted
    return plan


def ask_generator(ctx: Context, k: int, plan: list[Attempt], round_no: int) -> list[Result]:
    """The generator's reply to each planned attempt, in plan order.

    The sample number is a function of the iteration and attempt alone: it keys the cache, and
    keeps two attempts with the same parent from being one cached answer.
    """
    calls = [
        Call(
            [{"role": "user", "content": render(f"generator_{a.side.name}", instruction=a.parent.instruction, input=a.parent.input)}],
            sample=k * 1_000_000 + a.number,
        )
        for a in plan
    ]
    return ctx.roles.generator.run(calls, f"iter {k} generation: round {round_no}")


# How far under loop.rouge_threshold (at most half of it) a kept candidate's nearest pool
# instruction is still looked for and named: the report says how close it came to being dropped.
# A dropped one names a pool instruction above the threshold, the best of the first few that
# could be (`NoveltyIndex.any_above`), not always the nearest. The keep/drop decision is exact
# either way. Looked for over the whole pool, however far, the nearest cost each candidate time
# that grew with the pool, so the stage grew with the square of the run's size.
NEAREST_WITHIN = 0.1


class Screen:
    """What a new instruction must differ from: held-out instructions, the pool (by id and by
    ROUGE-L) and the evaluation questions of the guard. Kept instructions join the pool, so two
    replies of one stage cannot both be kept when they say the same."""

    def __init__(self, loop: LoopConfig, cache_pool: list[Instruction], heldout_ids: set[str], guard: NoveltyIndex | None):
        self.rouge_threshold, self.guard_threshold = loop.rouge_threshold, loop.guard_threshold
        self.floor = max(loop.rouge_threshold - NEAREST_WITHIN, loop.rouge_threshold / 2)
        self.heldout_ids, self.guard = heldout_ids, guard
        self.known = {it.id for it in cache_pool}
        self.pool = NoveltyIndex()
        self.pool.add_many([(it.id, it.instruction) for it in cache_pool])

    def admit(self, new: Instruction) -> None:
        """A kept instruction: later replies are screened against it like a pool instruction."""
        self.pool.add(new.id, new.instruction)
        self.known.add(new.id)


def filter_reply(attempt: Attempt, out: Result, k: int, screen: Screen) -> tuple[Candidate, Instruction | None]:
    """The reply's record and the new instruction when it passes the six filters, in order: the
    call answered, the method's output filters, not held out, not already in the pool, not too
    close to a pool instruction, not like an evaluation question. The first that fails is the
    reason recorded; the similarity found on the way is recorded too, to show why."""
    side, parent = attempt.side.name, attempt.parent
    if isinstance(out, Failed):
        return Candidate(side=side, attempt=attempt.number, parent=parent.id, text="", finish_reason="",
                         kept=False, reason=f"the call was rejected: {out.reason}"), None
    text = out.text.strip()
    cand = Candidate(side=side, attempt=attempt.number, parent=parent.id, text=out.text, finish_reason=out.finish_reason,
                     kept=False)
    cand.reason = output_problem(text, out.finish_reason)
    if cand.reason:
        return cand, None
    new = Instruction.make(text, "", origin=f"from-{side}", parent=parent.id, iteration=k, category=parent.category)
    cand.id = new.id
    if new.id in screen.heldout_ids:
        cand.reason = "same as a held-out instruction"
        return cand, None
    if new.id in screen.known:
        cand.reason = "already in the pool"
        return cand, None
    close = screen.pool.any_above(text, screen.rouge_threshold)
    if close is not None:
        cand.rouge, cand.nearest = close[0], screen.pool.key(close[1])
        cand.reason = "too similar to a pool instruction"
        return cand, None
    near = screen.pool.above(text, screen.floor)  # the nearest, exactly, where it reaches the floor
    if near is None:
        cand.rouge_below = screen.floor
    else:
        cand.rouge, cand.nearest = near[0], screen.pool.key(near[1])
    hit = screen.guard.above(text, screen.guard_threshold) if screen.guard is not None else None
    if hit is not None:
        cand.reason = f"resembles an evaluation question ({screen.guard.key(hit[1])}, ROUGE-L {hit[0]:.2f})"
        return cand, None
    cand.kept = True
    return cand, new


def filter_round(k: int, round_no: int, plan: list[Attempt], replies: list[Result], screen: Screen) -> list[Candidate]:
    """Every reply of a round through the filters, in plan order; the kept ones join their side
    and the screen at once, so a later reply of the same round must differ from them too."""
    candidates: list[Candidate] = []
    with bar(f"iter {k} generation: filters, round {round_no}", len(plan)) as advance:
        for attempt, out in zip(plan, replies):
            advance()
            cand, new = filter_reply(attempt, out, k, screen)
            candidates.append(cand)
            if new is not None:
                attempt.side.kept.append(new)
                screen.admit(new)
    return candidates


def shortfalls(sides: dict[str, Side]) -> list[str]:
    """A line for each side that spent its attempts before filling its quota."""
    return [f"{s.name}: {len(s.kept)} of {s.quota} after {s.used} attempts" for s in sides.values() if len(s.kept) < s.quota]


def tally(wanted: int, candidates: list[Candidate], sides: dict[str, Side], notes: list[str]) -> GenerationResult:
    """The stage's statistics: what was asked for, made and kept, and each drop reason's count
    in the order the reasons first occurred."""
    dropped: dict[str, int] = {}
    for c in candidates:
        if not c.kept:
            dropped[c.reason] = dropped.get(c.reason, 0) + 1
    return GenerationResult(
        wanted=wanted,
        generated=len(candidates),
        kept=len(sides["hard"].kept) + len(sides["easy"].kept),
        kept_from_hard=len(sides["hard"].kept),
        kept_from_easy=len(sides["easy"].kept),
        dropped=dropped,
        notes=notes,
    )


def write_outputs(out: GenerationFiles, candidates: list[Candidate], new_items: list[Instruction],
                  stats: GenerationResult) -> None:
    """Every reply with its fate (to audit the filters), the kept instructions, the statistics."""
    write_jsonl(out.candidates, candidates)
    write_jsonl(out.new_instructions, new_items)
    stats.write(out.stats)


def run_generation(
    ctx: Context,
    k: int,
    cache_pool: list[Instruction],
    split: list[SplitRecord],
    heldout_ids: set[str],
    guard: NoveltyIndex | None = None,
) -> tuple[list[Instruction], GenerationResult]:
    """Iteration k's new instructions and the stage's statistics, written to its folder.

    Rounds of calls go on until each side has its quota or has spent its attempts; each round
    asks only for what is still missing.
    """
    loop = ctx.cfg.loop
    sides, notes = choose_sides(loop, cache_pool, split)
    for note in notes:
        ctx.say(f"  note: {note}")
    screen = Screen(loop, cache_pool, heldout_ids, guard)
    draws = {name: ParentDraw(side.parents, loop.even_kinds, f"{loop.seed}:{k}:{name}") for name, side in sides.items()}
    candidates: list[Candidate] = []
    round_no = 0
    while any(s.wanted > 0 for s in sides.values()):
        round_no += 1
        plan = plan_round(sides, draws)
        candidates += filter_round(k, round_no, plan, ask_generator(ctx, k, plan, round_no), screen)
    short = shortfalls(sides)
    if short:
        ctx.say("  note: the generator ran out of attempts before filling the quota (" + "; ".join(short) + ")")
    new_items = sides["hard"].kept + sides["easy"].kept
    stats = tally(loop.new_per_iteration, candidates, sides, notes + short)
    write_outputs(ctx.run.iteration(k).generation, candidates, new_items, stats)
    if candidates and not new_items:
        raise nothing_usable("generator", f"none of the {len(candidates)} replies of iteration {k} was kept",
                             [c.reason for c in candidates])
    return new_items, stats
