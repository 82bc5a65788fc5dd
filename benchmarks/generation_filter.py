"""The generation stage's similarity screen as the pool grows: the nearest looked for under a floor, against the whole pool.

The stage screens each new instruction, in order, against the pool and the instructions kept
before it: dropped when its ROUGE-L to some pool instruction is above `loop.rouge_threshold`,
and its nearest pool instruction recorded for the report. The baseline is the screen before
issue 29: the exact nearest over the whole pool for every candidate (`NoveltyIndex.nearest`).
Ours looks for it only down to `NEAREST_WITHIN` under the threshold (`NoveltyIndex.above`),
which decides the same and names the same nearest wherever it reaches that floor. Both run in
this process on the same texts, and the script stops if any decision differs.

The pool is the arena's seed instructions (the demo's world, whose instructions share most of
their words, so a search prunes little), the candidates a tenth as many from another draw of
the same world; pool and candidates grow 4x per step.

    python benchmarks/generation_filter.py [--sizes 4000 16000 64000]
"""

from __future__ import annotations

import argparse
import time

from lion.core.config import load_config
from lion.data.seeds import load_seeds
from lion.data.similarity import NoveltyIndex
from lion.loop.stages.generation import NEAREST_WITHIN

THRESHOLD = 0.7


def texts(n: int, seed: int) -> list[str]:
    cfg = load_config(None, ["data.seeds=arena", f"data.arena_size={n}"])
    return [s.instruction for s in load_seeds(cfg.data, seed)[0]]


def screen(pool: list[str], candidates: list[str], bounded: bool) -> tuple[float, list[bool]]:
    """Seconds to screen every candidate in order (kept ones join the pool), and the decisions."""
    index = NoveltyIndex()
    index.add_many([(f"p{i}", t) for i, t in enumerate(pool)])
    floor = THRESHOLD - NEAREST_WITHIN
    kept = []
    start = time.perf_counter()
    for i, text in enumerate(candidates):
        if bounded:
            near = index.above(text, floor)
            score = near[0] if near else 0.0
        else:
            score, _ = index.nearest(text)
        kept.append(score <= THRESHOLD)
        if kept[-1]:
            index.add(f"c{i}", text)
    return time.perf_counter() - start, kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4000, 16000, 64000])
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        pool, candidates = texts(n, 0), texts(n // 10, 1)
        base, base_kept = screen(pool, candidates, bounded=False)
        ours, ours_kept = screen(pool, candidates, bounded=True)
        if base_kept != ours_kept:
            raise SystemExit(f"pool {n}: the bounded screen decided differently")
        rows.append((n, len(candidates), sum(ours_kept), base, ours))
        print(f"pool {n:,}, {len(candidates):,} candidates ({sum(ours_kept):,} kept): nearest {base:.2f} s, "
              f"bounded {ours:.2f} s, {base / ours:.1f}x faster", flush=True)
    for (n0, _, _, b0, o0), (n1, _, _, b1, o1) in zip(rows, rows[1:]):
        print(f"{n0:,} -> {n1:,} ({n1 / n0:g}x pool and candidates): nearest grew {b1 / b0:.1f}x, bounded {o1 / o0:.1f}x")


if __name__ == "__main__":
    main()
