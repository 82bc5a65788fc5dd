"""Judging in both orders beats a single order against a biased, noisy referee (the arena's)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))

from referee_agreement import agreement


def test_swap_and_average_agrees_with_the_fair_split_more_often_than_one_order():
    r = agreement(n=240, bias=2.0, noise=1.5, seed=3)
    assert r["pairs"] >= 220  # a few replies stay unreadable after the re-asks
    stats = r["noisy_stats"]
    assert stats["flip_rate"] > 0.1 and stats["position_1_mean"] > stats["position_2_mean"]
    assert r["agreement_both_orders"] > r["agreement_teacher_first_only"]
    assert r["agreement_both_orders"] > r["agreement_student_first_only"]
