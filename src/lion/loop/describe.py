"""How an iteration's record reads, wherever it is shown: the loop's console lines, the table
`lion run` ends with, `lion status` and the report all take their columns and words from here.
"""

from __future__ import annotations

from collections.abc import Callable

from lion.core.config import LoopConfig
from lion.loop.stages.heldout import HeldoutResult
from lion.loop.summary import IterationRecord, RunSpend, Spend


def usd(x: float | None) -> str:
    return "unknown" if x is None else f"${x:,.2f}"


def value(x: object) -> str:
    """A table cell: blank for a figure not known yet, two decimals for a fraction."""
    return "" if x is None else f"{x:.2f}" if isinstance(x, float) else str(x)


def percent(x: float | None) -> str | None:
    """A percentage as every view shows it: one decimal, like `lion eval`, `lion experiment` and
    the README, so that scores side by side (exact match, relative score, its interval, hard %)
    read alike; the scores themselves are stored with two."""
    return None if x is None else f"{x:.1f}"


def iteration_name(k: int, closing: bool) -> str:
    """How a row names iteration k: before training, its number, or the closing imitation's."""
    if not k:
        return "before"
    return f"{k} (closing)" if closing else str(k)


def iteration_label(r: IterationRecord) -> str:
    return iteration_name(r.iteration, r.closing)


def _hard_share(r: IterationRecord) -> str | None:
    return percent(100 * r.hard / r.judged) if r.judged else None


def _failed(r: IterationRecord) -> int | None:
    """Items a step left out: a rejected call or a failed judgement, each counted once (the
    discrimination step's file lists its failed judgements with the rest)."""
    return sum(r.failed_items.values()) or None


def _score(name: str) -> Callable[[IterationRecord], object]:
    return lambda r: percent(getattr(r.heldout, name)) if r.heldout else None


# key -> (header, the cell's content); each view picks the keys it shows
COLUMNS: dict[str, tuple[str, Callable[[IterationRecord], object]]] = {
    "iteration": ("iteration", lambda r: iteration_label(r)),
    "train_pool": ("Train Pool", lambda r: r.train_pool),
    "cache_pool": ("Cache Pool", lambda r: r.cache_pool),
    "held_back": ("held back", lambda r: r.held_back),
    "teacher_empty": ("empty", lambda r: r.teacher_empty),
    "teacher_cut_off": ("cut off", lambda r: r.teacher_cut_off),
    "hard": ("hard", lambda r: r.hard),
    "easy": ("easy", lambda r: r.easy),
    "hard_share": ("hard %", _hard_share),
    "mean_d": ("mean d", lambda r: r.mean_d),
    "mean_ifd": ("mean IFD", lambda r: r.mean_ifd),
    "generated": ("generated", lambda r: r.generated),
    "kept": ("kept", lambda r: r.kept),
    "exact_match": ("exact match %", _score("exact_match")),
    "relative_score": ("held-out %", _score("relative_score")),
    "failed": ("failed", _failed),
    "cost": ("cost", lambda r: usd(r.spend.cost_usd) if r.spend.calls else None),
}
RUN_END = ("iteration", "train_pool", "cache_pool", "hard", "easy", "kept", "exact_match", "relative_score")
# `lion status` shows two tables, each readable on an 80-column terminal or in a piped log
STATUS = {
    "pools": ("iteration", "train_pool", "cache_pool", "held_back", "teacher_empty", "teacher_cut_off", "generated",
              "kept", "failed"),
    "judgements and scores": ("iteration", "hard", "easy", "mean_d", "mean_ifd", "relative_score", "cost"),
}
REPORT = ("iteration", "train_pool", "cache_pool", "held_back", "teacher_empty", "teacher_cut_off", "hard", "easy", "hard_share",
          "mean_d", "mean_ifd", "generated", "kept", "relative_score", "failed")
LEGEND = ("Train/Cache Pool: the pools the iteration started from (the closing imitation trains on the last "
          "generation's instructions); held back: the Train Pool's slice kept out of "
          "training to be judged (loop.judged: held_back); empty/cut off: the teacher's answers to the Train "
          "Pool that were empty or cut off at max_tokens (see iter-KK/imitation/left_out.jsonl); generated/kept: new "
          "instructions written by the generator and kept by the filters; mean d / mean IFD: the judged instructions' mean "
          "gap d (loop.signal: referee) or IFD (loop.signal: student_loss); held-out %: the student's relative score "
          "against the teacher; failed: items left out (see iter-KK/*/failed.jsonl)")


def headers(keys: tuple[str, ...]) -> list[str]:
    return [COLUMNS[k][0] for k in keys]


def cells(record: IterationRecord, keys: tuple[str, ...]) -> list[str]:
    return [value(COLUMNS[k][1](record)) for k in keys]


def before_record(before: HeldoutResult) -> IterationRecord:
    """The untrained student's scores as a table row of their own ("before")."""
    return IterationRecord(iteration=0, heldout=before)


def interval_text(r: HeldoutResult) -> str:
    """The relative score's 95% interval, or nothing when too little was judged to have one."""
    low, high = r.relative_interval if len(r.relative_interval) == 2 else (None, None)
    return "" if low is None or high is None else f"{percent(low)}–{percent(high)}"


def heldout_text(r: HeldoutResult) -> str:
    if r.relative_score is None:
        text = f"no relative score ({r.failed_judgements} of {r.questions} questions not judged)"
    else:
        interval = interval_text(r)
        text = f"relative score {percent(r.relative_score)}%" + (f" [{interval.replace('–', ', ')}]" if interval else "")
    return (f"exact match {percent(r.exact_match)}%, " if r.exact_match is not None else "") + text


def dropped_text(dropped: dict[str, int]) -> str:
    """Drop reasons, the most frequent first, each with its count after it: a reason may start
    with a number ("3 words or fewer"), which a count before it would run into."""
    return "; ".join(f"{why}: {n:,}" for why, n in sorted(dropped.items(), key=lambda x: -x[1]))


def spend_text(s: Spend) -> str:
    cost = "unknown (no price for some model)" if s.cost_usd is None else f"${s.cost_usd:.2f}"
    return f"{s.calls:,} ({s.prompt_tokens:,} tokens in, {s.completion_tokens:,} out), cost {cost}"


def spend_rows(spend: RunSpend) -> list[list[str]]:
    """Role, calls, tokens in, the share of them the provider's prompt cache served, tokens out,
    cost: per role, then the total."""
    def cached(share: float | None) -> str:
        return "" if share is None else f"{share:.0%}"

    return [[role, f"{s.calls:,}", f"{s.prompt_tokens:,}", cached(s.cached_share), f"{s.completion_tokens:,}", usd(s.cost_usd)]
            for role, s in [*spend.by_role.items(), ("total", spend.total)]]


SPEND_HEADERS = ["role", "calls", "tokens in", "cached in", "tokens out", "cost"]


def _left_out_text(r: IterationRecord) -> str:
    parts = [f"{n} {what}" for n, what in ((r.teacher_empty, "empty"), (r.teacher_cut_off, "cut off")) if n]
    return f"teacher answers {', '.join(parts)}; " if parts else ""


# A split whose smaller side is under this share of the judged says little: with a few hard
# instructions the hard side's budget (loop.hard_share) goes to a handful of parents, so the
# generator writes near-copies of them; with a few easy ones nearly everything is "hard" and the
# hard side is drawn almost like random growth. Under 1 in 20 the smaller side is a few
# instructions on any pool worth judging, and a ranked split (loop.loss_hard_share) reaches it
# only when the share itself is set that far from 0.5.
DEGENERATE_SIDE = 0.05


def split_warning(r: IterationRecord, loop: LoopConfig) -> str | None:
    """One sentence when iteration r's split leaves one side (nearly) empty, under DEGENERATE_SIDE
    of the judged: what the split is, what it does to the generator, and what to change. None for
    a split that says something, and for one not made yet."""
    judged = r.judged
    if judged is None or judged < 2 or min(r.hard, r.easy) >= DEGENERATE_SIDE * judged:
        return None
    almost_all_hard = r.easy < r.hard
    if not r.easy or not r.hard:  # the generation's notes say it too: the other side takes the whole budget
        effect = ("so it says nothing about where the student is weak and every new instruction is written from "
                  + ("a hard one, as in random growth" if almost_all_hard else "an easy one"))
    elif almost_all_hard:
        effect = "so it says little about where the student is weak and the hard side is drawn almost like random growth"
    else:
        share = "half" if loop.hard_share == 0.5 else f"{loop.hard_share:.0%}"
        effect = (f"so the hard side's {share} of the generator's budget (loop.hard_share {loop.hard_share:g}) goes to "
                  f"{r.hard} parent{'s' if r.hard > 1 else ''}")
    advice = loop.hardness.split_advice(almost_all_hard, loop.judging)
    return f"iteration {r.iteration}'s split is {r.hard} hard of {judged} judged, {effect}: {advice}."


def iteration_line(r: IterationRecord) -> str:
    """What the loop prints when an iteration ends."""
    dropped = dropped_text(r.dropped or {})
    pools = f"Train Pool {r.train_pool}, Cache Pool {r.cache_pool}"
    if r.closing:  # trained on the last generation's instructions; nothing judged or written after it
        left_out = _left_out_text(r).removesuffix("; ")
        line = f"closing imitation (iteration {r.iteration}): {pools}" + (f"; {left_out}" if left_out else "")
    else:
        line = (
            f"iteration {r.iteration}: {pools}; "
            + _left_out_text(r)
            + (f"hard {r.hard}, easy {r.easy}" if r.hard is not None else "no referee")
            + (f", unjudged {r.failed_judgements}" if r.failed_judgements else "")
            + f"; generated {r.generated}, kept {r.kept}"
            + (f" (dropped: {dropped})" if dropped else "")
        )
    if r.heldout:
        line += f"\n  held-out: {heldout_text(r.heldout)}"
    cost = r.spend.cost_usd
    line += f"\n  LLM calls this iteration: {r.spend.calls}, " + (
        "cost unknown (no price for some model)" if cost is None else f"${cost:.2f}")
    return line
