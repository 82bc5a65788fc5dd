"""Does judging in both orders give a truer hard/easy split than judging once?

The arena's referee can be made to favour the answer shown first (`position_bias`, in points)
and to score noisily (`noise`, the standard deviation of its scores). Pairs of a teacher
answer and a "student" answer of known quality are judged by a fair referee (no bias, no noise)
for the reference split, then by the biased, noisy one. The split from both orders averaged
(what the discrimination stage does) is compared with the split each single order would give:
the share of instructions whose hard/easy label agrees with the reference.

    python benchmarks/referee_agreement.py [--pairs 600] [--bias 1.0] [--noise 1.5] [--seed 0]

Student answers are of four kinds, a quarter each: the teacher's own answer to another sample
(right), a right answer buried in filler (partly right), the teacher's answer to another
question of the same family (a wrong fact of the right kind), and a fluent answer to an
unrelated question.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
from pathlib import Path

from lion.arena import ArenaChatModel, seed_set
from lion.core.config import ArenaOptions, RoleConfig
from lion.core.prompts import render
from lion.core.records import Instruction
from lion.llm.cache import ResponseCache
from lion.llm.dispatch import Call, Role
from lion.llm.judging import PairItem, judge_pairs
from lion.llm.position_bias import bias_stats


def _teacher_answers(role: Role, items: list[Instruction], sample: int) -> list[str]:
    calls = [Call([{"role": "user", "content": render("teacher", instruction=i.instruction, input=i.input)}], sample)
             for i in items]
    return [c.text for c in role.run(calls, "teacher")]


def make_pairs(role: Role, n: int, seed: int) -> list[PairItem]:
    items = [Instruction.make(i, x) for i, x in seed_set(n, seed)]
    teacher = _teacher_answers(role, items, 0)
    other_sample = _teacher_answers(role, items, 1)
    rng = random.Random(seed)
    pairs = []
    for j, (it, answer) in enumerate(zip(items, teacher)):
        kind = j % 4
        if kind == 0:
            student = other_sample[j]
        elif kind == 1:
            student = f"Well, it is a good question and I think that {other_sample[j]} is what I would say, I think."
        elif kind == 2:
            student = teacher[(j + 4) % n]  # another question; often of the same family
        else:
            student = rng.choice(teacher[:j] + teacher[j + 1:])
        pairs.append(PairItem(it.id, it.instruction, it.input, answer, student))
    return pairs


def _referee(options: ArenaOptions, cache: ResponseCache, loop: asyncio.AbstractEventLoop) -> tuple[Role, RoleConfig]:
    cfg = RoleConfig(model="arena-referee", decoding={"temperature": 0.7, "max_tokens": 512}, arena=options,
                     structured="text", parse_retries=3)
    role = Role("referee", ArenaChatModel(cfg.model, options), cfg.decoding.params(), cache, cfg.endpoint(), loop=loop)
    return role, cfg


def agreement(n: int = 600, bias: float = 1.0, noise: float = 1.5, seed: int = 0, tau: float = 1.0) -> dict:
    """Agreement with the fair referee's split: both orders averaged, and each order alone."""
    loop = asyncio.new_event_loop()
    with tempfile.TemporaryDirectory() as tmp:
        cache = ResponseCache(Path(tmp) / "cache.sqlite")
        teacher = Role("teacher", ArenaChatModel("arena-teacher", ArenaOptions()),
                       RoleConfig(model="arena-teacher").decoding.params(), cache, "arena", loop=loop)
        pairs = make_pairs(teacher, n, seed)
        fair_role, fair_cfg = _referee(ArenaOptions(malformed_rate=0.0), cache, loop)  # no bias, no noise
        noisy_role, noisy_cfg = _referee(ArenaOptions(position_bias=bias, noise=noise, malformed_rate=0.05), cache, loop)
        fair = {v.id: v for v in judge_pairs(fair_role, "referee", pairs, fair_cfg, "fair").verdicts}
        noisy = judge_pairs(noisy_role, "referee", pairs, noisy_cfg, "noisy").verdicts
        cache.close()
    loop.close()
    both = [v for v in noisy if v.error is None and fair[v.id].error is None]
    truth = {v.id: fair[v.id].a_score - fair[v.id].b_score >= tau for v in both}

    def agree(label) -> float:
        return round(sum(label(v) == truth[v.id] for v in both) / len(both), 4)

    return {
        "pairs": len(both),
        "bias": bias,
        "noise": noise,
        "hard_share_fair": round(sum(truth.values()) / len(both), 4),
        "agreement_both_orders": agree(lambda v: v.a_score - v.b_score >= tau),
        "agreement_teacher_first_only": agree(lambda v: v.a_first[0] - v.a_first[1] >= tau),
        "agreement_student_first_only": agree(lambda v: v.b_first[0] - v.b_first[1] >= tau),
        "noisy_stats": bias_stats(noisy, tau),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=600)
    ap.add_argument("--bias", type=float, nargs="+", default=[0.0, 1.0, 2.0])
    ap.add_argument("--noise", type=float, nargs="+", default=[0.5, 1.5])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print("| bias | noise | pairs | fair hard share | flip rate | pos. 1 - pos. 2 "
          "| agree: both orders | teacher first only | student first only |")
    print("|---|---|---|---|---|---|---|---|---|")
    for bias in args.bias:
        for noise in args.noise:
            r = agreement(args.pairs, bias, noise, args.seed)
            s = r["noisy_stats"]
            gap = s["position_1_mean"] - s["position_2_mean"]
            print(f"| {bias:g} | {noise:g} | {r['pairs']} | {r['hard_share_fair']:.1%} | {s['flip_rate']:.1%} | {gap:+.2f} | "
                  f"{r['agreement_both_orders']:.1%} | {r['agreement_teacher_first_only']:.1%} | "
                  f"{r['agreement_student_first_only']:.1%} |")


if __name__ == "__main__":
    main()
