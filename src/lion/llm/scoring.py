"""What a judge's verdicts add up to: the paper's relative score, with its uncertainty.

A candidate's relative score is its total judge score as a percentage of the reference's. The
interval is a bootstrap over questions: the questions are drawn again with replacement 2,000
times and the relative score recomputed each time; the 2.5th and 97.5th percentiles bound it.
The held-out evaluation inside a run and `lion eval` both tabulate through here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

RESAMPLES = 2000


@dataclass
class Score:
    relative: float | None  # candidate total / reference total x 100
    low: float | None  # the bootstrap 95% interval
    high: float | None
    judged: int


@dataclass
class CandidateResult:
    name: str
    overall: Score
    wins: int
    ties: int
    losses: int
    left_out: int
    categories: dict[str, Score] = field(default_factory=dict)
    turns: dict[str, Score] = field(default_factory=dict)  # per turn, when conversations were judged


def relative_score(reference: np.ndarray, candidate: np.ndarray, seed: int = 0) -> Score:
    n = len(reference)
    if n == 0 or reference.sum() == 0:
        return Score(None, None, None, n)
    draws = np.random.default_rng(seed).integers(0, n, size=(RESAMPLES, n))
    ref_totals = reference[draws].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = candidate[draws].sum(axis=1) / ref_totals * 100
    ratios = ratios[ref_totals > 0]
    low, high = np.percentile(ratios, [2.5, 97.5])
    return Score(round(float(candidate.sum() / reference.sum() * 100), 2), round(float(low), 2), round(float(high), 2), n)


@dataclass(frozen=True)
class Item:
    """One judged question turn. A later turn is judged as a conversation: the judge reads the
    turns so far and each side's answers to all of them, and rates the last ones."""

    id: str
    category: str
    turn: int
    instruction: str
    input: str


def tabulate(name: str, kept: list[tuple[str, int, float, float]], items: list[Item]) -> CandidateResult:
    """The scores of the items judged, (category, turn, reference score, candidate score) each,
    overall, per category of `items` and, where they hold several turns, per turn."""
    ref = np.array([a for _, _, a, _ in kept], dtype=float)
    cand = np.array([b for _, _, _, b in kept], dtype=float)
    cats = np.array([c for c, _, _, _ in kept])
    turns = np.array([t for _, t, _, _ in kept])
    result = CandidateResult(
        name, relative_score(ref, cand), int((cand > ref).sum()), int((cand == ref).sum()), int((cand < ref).sum()),
        len(items) - len(kept),
    )
    for category in sorted({it.category for it in items}):
        result.categories[category] = relative_score(ref[cats == category], cand[cats == category])
    if max((it.turn for it in items), default=1) > 1:
        result.turns = {str(t): relative_score(ref[turns == t], cand[turns == t]) for t in sorted({it.turn for it in items})}
    return result
