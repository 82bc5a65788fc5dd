"""The built-in loop variants: each a set of overrides laid on a run's config.

They are data, so `lion experiment`, its help text and the tests that run every variant all
read the same list (docs/evaluation.md's table describes them; tests/observe/test_experiment.py checks it).
"""

from __future__ import annotations

BUILT_IN: dict[str, tuple[str, ...]] = {
    "one-way": ("loop.parents=random",),
    "balanced": ("loop.parents=random", "loop.even_kinds=true"),
    "lion": ("loop.parents=referee", "loop.hard_share=0.5"),
    "hard-only": ("loop.parents=referee", "loop.hard_share=1.0"),
    "single-order-referee": ("loop.parents=referee", "loop.hard_share=0.5", "loop.both_orders=false"),
    "lion-even": ("loop.parents=referee", "loop.even_kinds=true", "loop.hard_share=0.5"),
    "lion-unseen": ("loop.parents=referee", "loop.hard_share=0.5", "loop.judged=unseen"),
    "lion-held-back": ("loop.parents=referee", "loop.hard_share=0.5", "loop.judged=held_back"),
    "lion-dpo": ("loop.parents=referee", "loop.hard_share=0.5", "loop.preference=dpo"),
    "lion-held-back-learnable": ("loop.parents=referee", "loop.hard_share=0.5", "loop.judged=held_back",
                                 "loop.allocation=learnable"),
    "student-loss": ("loop.parents=referee", "loop.hard_share=0.5", "loop.judged=held_back", "loop.signal=student_loss"),
    "student-loss-learnable": ("loop.parents=referee", "loop.hard_share=0.5", "loop.judged=held_back",
                               "loop.signal=student_loss", "loop.allocation=learnable"),
}
BASELINES = ("one-way", "balanced")  # the variants every other one is compared with
