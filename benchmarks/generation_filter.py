"""The generation stage's similarity screen as the pool grows: bounded searches against the exact nearest.

The stage screens each new instruction, in order, against the pool and the instructions kept
before it: dropped when its ROUGE-L to some pool instruction is above `loop.rouge_threshold`,
and a pool instruction named for the report. The baseline is the screen before issue 29: the
exact nearest over the whole pool for every candidate (`NoveltyIndex.nearest`). Two bounded
screens follow: "floor" looks for the nearest only down to `NEAREST_WITHIN` under the threshold
(`NoveltyIndex.above`); "now", the stage's screen, first asks whether any pool instruction is
above the threshold, stopping at the first block of them that holds one
(`NoveltyIndex.any_above`), and looks for the nearest down to the floor only for a candidate
it keeps. All three run in this process on the same texts, and the script stops if any
decision differs.

The pool is the arena's seed instructions (`--texts arena`: the demo's world, whose
instructions share most of their words, so a search prunes little; `arena-wide`: the wide
register that benchmarks/scale.py runs in), the candidates a tenth as many from another draw of
the same world; or (`mixed`) the shared instruction sets' texts with half their words swapped,
and candidates a fifth of which are planted near-duplicates (benchmarks/novelty.py's "mixed",
which needs ../shared). Pool and candidates grow 4x per step.

    python benchmarks/generation_filter.py [--sizes 4000 16000 64000] [--texts arena|arena-wide|mixed]
"""

from __future__ import annotations

import argparse
import time

from lion.core.config import load_config
from lion.data.seeds import load_seeds
from lion.data.similarity import NoveltyIndex
from lion.loop.stages.generation import NEAREST_WITHIN

THRESHOLD = 0.7
WAYS = ("nearest", "floor", "now")


def arena(n: int, seed: int, frames: str) -> list[str]:
    cfg = load_config(None, ["data.seeds=arena", f"data.arena_size={n}", f"data.arena_frames={frames}"])
    return [s.instruction for s in load_seeds(cfg.data, seed)[0]]


def texts(kind: str, n: int) -> tuple[list[str], list[str]]:
    """A pool of n texts and a tenth as many candidates."""
    if kind == "mixed":
        from novelty import build  # benchmarks/novelty.py, beside this script

        return build("mixed", n, n // 10, seed=0)
    frames = "wide" if kind == "arena-wide" else "standard"
    return arena(n, 0, frames), arena(n // 10, 1, frames)


def screen(pool: list[str], candidates: list[str], way: str) -> tuple[float, list[bool]]:
    """Seconds to screen every candidate in order (kept ones join the pool) one `way`, and the decisions."""
    index = NoveltyIndex()
    index.add_many([(f"p{i}", t) for i, t in enumerate(pool)])
    floor = THRESHOLD - NEAREST_WITHIN
    kept = []
    start = time.perf_counter()
    for i, text in enumerate(candidates):
        if way == "nearest":
            score, _ = index.nearest(text)
        elif way == "floor":
            near = index.above(text, floor)
            score = near[0] if near else 0.0
        else:
            close = index.any_above(text, THRESHOLD)
            score = close[0] if close else 0.0
            if close is None:
                index.above(text, floor)  # the report's nearest, for a candidate kept
        kept.append(score <= THRESHOLD)
        if kept[-1]:
            index.add(f"c{i}", text)
    return time.perf_counter() - start, kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4000, 16000, 64000])
    parser.add_argument("--texts", choices=["arena", "arena-wide", "mixed"], default="arena")
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        pool, candidates = texts(args.texts, n)
        took, decided = {}, {}
        for way in WAYS:
            took[way], decided[way] = screen(pool, candidates, way)
            if decided[way] != decided["nearest"]:
                raise SystemExit(f"pool {n}: the {way} screen decided differently")
        rows.append((n, took))
        print(f"pool {n:,}, {len(candidates):,} candidates ({sum(decided['now']):,} kept): " +
              ", ".join(f"{way} {took[way]:.2f} s ({took['nearest'] / took[way]:.1f}x)" for way in WAYS), flush=True)
    for (n0, t0), (n1, t1) in zip(rows, rows[1:]):
        print(f"{n0:,} -> {n1:,} ({n1 / n0:g}x pool and candidates): " +
              ", ".join(f"{way} grew {t1[way] / t0[way]:.1f}x" for way in WAYS))


if __name__ == "__main__":
    main()
