"""The novelty filter at pool scale: 6,000 candidates against a 70,000-instruction pool.

Our filter (`lion.data.similarity.NoveltyIndex`) is timed whole: building the index over the pool,
then deciding every candidate in order, each kept one joining the pool. The baseline is the
official scripts' method: `rouge_score`'s pure-Python LCS of the candidate against every pool
instruction, mapped over a process pool created afresh for each candidate. The baseline is
timed on a sample of candidates and extrapolated linearly to all of them (its cost per
candidate is the pool size times a pairwise LCS, nearly constant here since the pool grows by
under 9%); its decisions on the sample are checked against ours.

    python benchmarks/novelty.py [--pool 70000] [--candidates 6000] [--sample 3]

Two pools, both built from ../shared/data by mutation, with near-duplicates of pool items
planted among the candidates (about one in five):
  - "mixed": the shared instruction sets' texts, mutated;
  - "templates": instructions made from a few shared templates ("Generate a list of ...",
    "Write a ..."), where most pairs share many tokens and bounds prune less.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import time
from functools import partial
from pathlib import Path

from lion.data.similarity import NoveltyIndex

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TEMPLATES = [
    "Generate a list of {n} {thing} for {who}.",
    "Write a {adj} {genre} about {topic}.",
    "Write a short {genre} that explains {topic} to {who}.",
    "Give {n} tips for {who} who want to learn about {topic}.",
    "Explain the difference between {thing} and {topic} in {n} sentences.",
    "Create a {adj} plan for {who} to improve their {thing}.",
]


def shared_texts() -> list[str]:
    if not DATA.is_dir():
        raise SystemExit(f"{DATA} is absent: the benchmark builds its pools from the shared data sets")
    texts = []
    for name in sorted(DATA.glob("*.jsonl")):
        for line in name.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            texts += [t for t in [rec.get("instruction"), *rec.get("turns", [])] if t]
    return texts


def mutate(text: str, rng: random.Random, vocab: list[str], rate: float) -> str:
    """Each word replaced with probability `rate` by a word of the vocabulary, and a word or
    two dropped or added."""
    w = [rng.choice(vocab) if rng.random() < rate else x for x in text.split()]
    for _ in range(rng.randint(0, 2)):
        if rng.random() < 0.5 and len(w) > 3:
            w.pop(rng.randrange(len(w)))
        else:
            w.insert(rng.randrange(len(w) + 1), rng.choice(vocab))
    return " ".join(w)


def mixed(rng: random.Random, n: int, vocab: list[str], texts: list[str]) -> list[str]:
    """Shared instructions, half of their words swapped for others: related but rarely near."""
    return [mutate(rng.choice(texts), rng, vocab, 0.5) for _ in range(n)]


def templated(rng: random.Random, n: int, vocab: list[str], _texts: list[str]) -> list[str]:
    def w() -> str:
        return " ".join(rng.choice(vocab) for _ in range(rng.randint(1, 3)))

    return [
        rng.choice(TEMPLATES).format(n=rng.randint(2, 12), thing=w(), who=w(), adj=w(), genre=w(), topic=w())
        for _ in range(n)
    ]


def build(kind: str, pool_size: int, n_candidates: int, seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    texts = shared_texts()
    vocab = sorted({x.strip(".,?!:;()\"'").lower() for t in texts for x in t.split()} - {""})
    make = mixed if kind == "mixed" else templated
    pool = make(rng, pool_size, vocab, texts)
    candidates = []
    for _ in range(n_candidates):
        if rng.random() < 0.2:  # a planted near-duplicate of a pool item
            candidates.append(mutate(rng.choice(pool), rng, vocab, 0.1))
        else:
            candidates.extend(make(rng, 1, vocab, texts))
    return pool, candidates


def ours(pool: list[str], candidates: list[str], threshold: float, workers: int) -> tuple[float, list[bool]]:
    start = time.perf_counter()
    index = NoveltyIndex(workers)
    index.add_many([(str(i), text) for i, text in enumerate(pool)])
    decisions = [hit is None for hit in index.novel([(f"c{j}", text) for j, text in enumerate(candidates)], threshold)]
    return time.perf_counter() - start, decisions


def official(pool: list[str], candidates: list[str], sample: int, threshold: float) -> tuple[float, list[bool]]:
    """The reference method on the first `sample` candidates; seconds per candidate."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    start = time.perf_counter()
    tokens = [scorer._tokenizer.tokenize(t) for t in pool]
    decisions = []
    for text in candidates[:sample]:
        new = scorer._tokenizer.tokenize(text)
        with multiprocessing.Pool(os.cpu_count()) as workers:
            scores = workers.map(partial(rouge_scorer._score_lcs, new), tokens)
        keep = max((s.fmeasure for s in scores), default=0.0) <= threshold
        if keep:
            tokens.append(new)
        decisions.append(keep)
    return (time.perf_counter() - start) / sample, decisions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pool", type=int, default=70_000)
    ap.add_argument("--candidates", type=int, default=6_000)
    ap.add_argument("--sample", type=int, default=3, help="candidates the baseline is timed on")
    ap.add_argument("--threshold", type=float, default=0.7)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=os.cpu_count(), help="threads our filter computes LCS with")
    args = ap.parse_args()
    for kind in ("mixed", "templates"):
        pool, candidates = build(kind, args.pool, args.candidates, args.seed)
        wall, decisions = ours(pool, candidates, args.threshold, args.workers)
        per_candidate, reference = official(pool, candidates, args.sample, args.threshold)
        assert decisions[: args.sample] == reference, "decisions differ from the reference on the sample"
        baseline = per_candidate * len(candidates)
        dropped = decisions.count(False)
        print(f"{kind}: pool {len(pool):,}, candidates {len(candidates):,}, dropped {dropped:,}")
        print(f"  ours (index build + all candidates): {wall:.2f} s")
        print(f"  official method: {per_candidate:.1f} s per candidate on {args.sample}, "
              f"extrapolated {baseline / 3600:.2f} h for all; same decisions on the sample")
        print(f"  ratio: {baseline / wall:,.0f}x")


if __name__ == "__main__":
    main()
