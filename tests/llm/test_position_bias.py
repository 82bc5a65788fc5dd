"""The position-bias figures of pairs judged in both orders."""

from lion.llm.judging import Verdict
from lion.llm.position_bias import bias_stats


def test_bias_stats_of_a_judge_that_prefers_the_first_answer():
    # a: (a, b) with a shown first; b: (a, b) with b shown first; the judge adds 2 to position 1
    vs = [Verdict("x", a_first=(8, 4), b_first=(7, 5)), Verdict("y", a_first=(7, 5), b_first=(5, 7)),
          Verdict("z", error="no scores")]
    for v in vs[:2]:
        v.a_score, v.b_score = (v.a_first[0] + v.b_first[0]) / 2, (v.a_first[1] + v.b_first[1]) / 2
    s = bias_stats(vs, tau=1.0)
    assert s["judged"] == 2
    assert s["flip_rate"] == 0.5  # x: a wins both times; y: a wins, then b wins
    assert s["position_1_mean"] == 6.75 and s["position_2_mean"] == 5.25
    assert s["hard_share"] == {"both_orders": 0.5, "a_first_only": 1.0, "b_first_only": 0.5}
    assert s["label_disagreement"] == 0.5
    assert s["d"]["histogram"] == {"0": 1, "3": 1} and s["d"]["mean"] == 1.5
    assert bias_stats([vs[2]], 1.0) == {"judged": 0}
