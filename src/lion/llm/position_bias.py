"""How much the order of two answers moves a judge, from pairs judged in both orders.

Every answer is shown first once and second once, so a fair judge scores both positions alike;
these figures are written beside each judging stage (bias.json, the held-out scores) and printed
after it, to tell a judge's position preference from the answers' real differences.
"""

from __future__ import annotations

import math
import statistics

from lion.llm.judging import Verdict


def _winner(a: float, b: float) -> str:
    return "a" if a > b else "b" if b > a else "tie"


def bias_stats(verdicts: list[Verdict], tau: float) -> dict:
    """How much the order of the answers moved the judge, over the pairs judged in both orders.

    - flip_rate: share of pairs whose winner (a, b or a tie) changes when the order is swapped;
    - position_1_mean / position_2_mean: the mean score of whichever answer was shown first or
      second; a fair judge has them equal, since every answer is shown in both places;
    - hard_share: the share with d >= tau from both orders averaged, and from each order alone;
      label_disagreement: the share whose hard/easy label differs between the two single orders;
    - d: mean, median and a histogram in unit bins (key k counts k <= d < k + 1).
    """
    done = [v for v in verdicts if v.error is None and v.b_first is not None]
    if not done:
        return {"judged": 0}
    first = [v.a_first[0] for v in done] + [v.b_first[1] for v in done]
    second = [v.a_first[1] for v in done] + [v.b_first[0] for v in done]
    d = [v.a_score - v.b_score for v in done]
    d_af = [v.a_first[0] - v.a_first[1] for v in done]
    d_bf = [v.b_first[0] - v.b_first[1] for v in done]
    histogram: dict[str, int] = {}
    for x in sorted(d):
        key = str(math.floor(x))
        histogram[key] = histogram.get(key, 0) + 1
    n = len(done)
    return {
        "judged": n,
        "flip_rate": round(sum(_winner(*v.a_first) != _winner(*v.b_first) for v in done) / n, 4),
        "position_1_mean": round(statistics.fmean(first), 3),
        "position_2_mean": round(statistics.fmean(second), 3),
        "hard_share": {
            "both_orders": round(sum(x >= tau for x in d) / n, 4),
            "a_first_only": round(sum(x >= tau for x in d_af) / n, 4),
            "b_first_only": round(sum(x >= tau for x in d_bf) / n, 4),
        },
        "label_disagreement": round(sum((x >= tau) != (y >= tau) for x, y in zip(d_af, d_bf)) / n, 4),
        "d": {"mean": round(statistics.fmean(d), 3), "median": statistics.median(d), "histogram": histogram},
    }


def describe_bias(stats: dict, who: str) -> str:
    """One line for the console after a judging stage."""
    if not stats.get("judged"):
        return f"  {who}: no pair was judged in both orders"
    return (
        f"  {who} position bias: the winner flips on {stats['flip_rate']:.0%} of swaps; mean score "
        f"{stats['position_1_mean']:.2f} shown first vs {stats['position_2_mean']:.2f} shown second; "
        f"d mean {stats['d']['mean']:+.2f}, median {stats['d']['median']:+.1f}"
    )

