"""`lion estimate` as the user reads it: two tables and the notes that qualify their figures.

An 80-column terminal, or output piped to a file (which rich lays out at 80 columns), must show
every dollar figure in full: one table of ten columns cannot, and rich then cuts figures to
`$2,47…`. So calls and tokens go in one table and dollars and hours in another, token counts
are shown to three figures (`3.11M`; `--json` has them exact, and at four characters a token
they are not known closer), and every column folds a figure that still does not fit onto a
second line instead of cutting it.
"""

from __future__ import annotations

import math
from pathlib import Path

from rich.console import Console
from rich.table import Table

from lion.llm.pricing import START_ALLOWANCE, START_RATIO
from lion.loop.estimate import GUESSED_SEED_CHARS, RoleEstimate

_COST_HEADS = {"cost_usd": "cost", "batch_cost_usd": "batch cost", "cost_usd_at_most": "max cost",
               "batch_cost_usd_at_most": "max batch cost"}


def usd(x: float | None) -> str:
    return "?" if x is None else f"${x:,.2f}"


def short_tokens(x: int | None) -> str:
    """A token count to three significant figures (`384k`, `3.11M`); exact below ten thousand."""
    if x is None:
        return "?"
    if x < 10_000:
        return f"{x:,}"
    for unit, size in (("k", 1e3), ("M", 1e6), ("B", 1e9)):
        rounded = float(f"{x / size:.3g}")
        if rounded < 1000:
            return f"{rounded:.{max(0, 2 - math.floor(math.log10(rounded)))}f}{unit}"
    return f"{x / 1e9:,.0f}B"


def _table(title: str, heads: list[str]) -> Table:
    """Figures right-aligned; a cell too wide for its column folds onto another line, never `…`."""
    table = Table(title=title, title_justify="left")
    for head in heads:
        table.add_column(head, justify="left" if head == "role" else "right", overflow="fold")
    return table


def tokens_table(rows: list[RoleEstimate], seeds: int, calibrated: bool, guessed: bool = False) -> Table:
    heads = ["role", "calls", "max calls", "prompt tok", "max prompt tok", *(["answer tok"] if calibrated else []),
             "max answer tok"]
    table = _table(f"estimate for {seeds:,} seed instructions{' (guessed)' if guessed else ''}: calls and tokens", heads)
    for r in rows:
        answers = [short_tokens(r.completion_tokens)] if calibrated else []
        table.add_row(r.role, f"{r.calls:,}", f"{r.calls_at_most:,}", short_tokens(r.prompt_tokens),
                      short_tokens(r.prompt_tokens_at_most), *answers, short_tokens(r.completion_tokens_at_most))
    return table


def cost_columns(calibrated: bool) -> list[str]:
    """Each cost online and, beside it, through the provider's batch API; the expected ones only
    once a run has measured answer lengths."""
    return list(_COST_HEADS)[0 if calibrated else 2:]


def cost_table(rows: list[RoleEstimate], calibrated: bool) -> Table:
    costs = cost_columns(calibrated)
    table = _table("cost and time", ["role", *(_COST_HEADS[c] for c in costs), "hours"])
    for r in rows:
        table.add_row(r.role, *(usd(getattr(r, c)) for c in costs), f"{r.hours:,.2f}")
    table.add_row("total", *(usd(total(rows, c)) for c in costs), f"{sum(r.hours for r in rows):,.2f}")
    return table


def total(rows: list[RoleEstimate], field: str) -> float | None:
    """A cost column's sum; None where a role's is unknown."""
    values = [getattr(r, field) for r in rows]
    return None if None in values else sum(values)


def round_up(x: float) -> float:
    """`x` rounded up to two significant figures: a budget to suggest (2,522.12 → 2,600)."""
    if x <= 0:
        return 0.0
    step = 10.0 ** (math.floor(math.log10(x)) - 1)
    return math.ceil(round(x / step, 9)) * step


def budget_note(rows: list[RoleEstimate], max_usd: float | None, calibrated: bool) -> str | None:
    """One sentence where the worst case passes `budget.max_usd`: what the budget will then do,
    as the dispatcher does it (`lion.llm.dispatch.Ledger`), and how to go on."""
    worst = total(rows, "cost_usd_at_most")
    if max_usd is None or worst is None or worst <= max_usd:
        return None
    expected = total(rows, "cost_usd") if calibrated else None
    over = expected is not None and expected > max_usd
    also = f", and so is the expected cost, {usd(expected)}," if over else ","
    return (f"budget: the worst case, {usd(worst)}, is over budget.max_usd ({usd(max_usd)}){also} so the run "
            f"{'will' if over else 'may'} stop early: it starts no call whose worst case would take its spending past "
            f"{usd(max_usd)}, and stops with every answer so far cached; to go on, run the same `lion run` command "
            f"again with --set budget.max_usd={round_up(worst):g} added.")


def _and(names: list[str]) -> str:
    return " and ".join(filter(None, [", ".join(names[:-1]), names[-1]]))


def uncounted_notes(rows: list[RoleEstimate]) -> list[str]:
    """Roles whose model counts its prompts but could not (its tokenizer would not load): their
    token figures, and the costs from them, are the four-characters-a-token guess instead."""
    by_reason: dict[str, list[str]] = {}
    for r in rows:
        if r.uncounted:
            by_reason.setdefault(r.uncounted.rstrip("."), []).append(r.role)
    return [f"guessed: the {_and(roles)} prompts are counted at 4 characters a token, and bounded as the budget "
            f"bounds a guess, because the tokenizer that counts them exactly could not be loaded: {reason}."
            for reason, roles in by_reason.items()]


def guessed_seeds_note(unread: str, seeds: int) -> str:
    return (f"guessed: {unread.rstrip('.')}; so the estimate assumes data.limit's {seeds:,} seeds of about "
            f"{GUESSED_SEED_CHARS} characters each, and its calls, tokens, costs and hours are guesses.")


def notes(rows: list[RoleEstimate], calibrated: Path | None) -> list[str]:
    """What qualifies the figures: unknown prices and answer lengths, the prompt cache, and how
    prompts are counted before a run. A role the calibrating run never called (a run stopped
    early, or one without a step that calls it) has no measured answer length: "?" where it counts."""
    out = []
    unpriced = [r.role for r in rows if r.cost_usd_at_most is None]
    if unpriced:
        out.append(f"? no price is known for the {', '.join(unpriced)} model; set <role>.price in the config.")
    unmeasured = [r.role for r in rows if calibrated and r.completion_tokens is None and r.calls]
    if unmeasured:
        out.append(f"? {calibrated} made no {', '.join(unmeasured)} calls, so their expected answer length and cost "
                   "are unknown; their max figures, at max_tokens, still hold.")
    for r in rows:
        if r.cache_prefix_tokens:
            fate = ("counted as read from the provider's prompt cache" if r.cached
                    else f"under the {r.cache_min_tokens:,} tokens {r.model} caches, so billed as plain input")
            out.append(f"prompt cache: the {r.role}'s prompts share a prefix of about {r.cache_prefix_tokens:,} tokens "
                       f"(system message and verdict schema), {fate}; its max costs price every prompt token at the "
                       "cache-write price.")
    if not calibrated:
        out.append("Answer lengths are unknown before a run, so costs assume every answer uses max_tokens. Prompts are "
                   "counted at 4 characters a token where the model cannot count them itself, and servers also bill "
                   f"their chat template, so max prompt tokens are {START_RATIO:g} times that and {START_ALLOWANCE} "
                   "more, as the budget reserves them before a server has billed anything. --calibrate RUN_FOLDER uses "
                   "the answer lengths and prompt tokens measured in an earlier run.")
    return out


def show_estimate(console: Console, rows: list[RoleEstimate], seeds: int, calibrated: Path | None,
                  max_usd: float | None, unread_seeds: str | None = None) -> None:
    """The tables, then the guesses, the budget and the notes, one sentence a line as written
    (the terminal wraps them), so that a line can be searched for whatever the width."""
    console.print(tokens_table(rows, seeds, calibrated is not None, unread_seeds is not None))
    console.print(cost_table(rows, calibrated is not None))
    lines = [guessed_seeds_note(unread_seeds, seeds)] if unread_seeds else []
    lines += uncounted_notes(rows)
    lines += [note for note in [budget_note(rows, max_usd, calibrated is not None)] if note]
    for line in lines + notes(rows, calibrated):
        console.print(line, soft_wrap=True, markup=False, highlight=False, emoji=False)
