"""Batched student generation against one prompt at a time, on the same prompts and model.

The model is the arena's tiny student (a Llama of 4 layers and width 256 with a word-level
tokenizer, built here from the arena's texts and left untrained, so that each answer runs to
the token limit as a long real answer would). Both ways use `StudentGenerator`, greedy: one
prompt per `generate` call, or the prompts in length-sorted batches with left padding. The
answers must be identical; the script stops if they are not.

    python benchmarks/generation.py [--prompts 256] [--batch-size 32] [--max-new-tokens 64] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

import torch

from lion.arena.world import corpus
from lion.core.config import GenerateConfig, TinyStudentConfig
from lion.student.generate import StudentGenerator
from lion.student.tiny import build_tiny_student


def timed(gen: StudentGenerator, prompts: list[str], batches: list[list[int]]) -> tuple[float, list[str]]:
    answers: list[str] = [""] * len(prompts)
    start = time.perf_counter()
    for batch in batches:
        for i, text in zip(batch, gen.run_batch([prompts[i] for i in batch])):
            answers[i] = text
    return time.perf_counter() - start, answers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prompts", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    texts = corpus()
    prompts_src = random.Random(args.seed).sample(texts, args.prompts)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "student"
        build_tiny_student(texts, folder, TinyStudentConfig(), seed=args.seed)
        gen = StudentGenerator(folder, GenerateConfig(max_new_tokens=args.max_new_tokens, batch_size=args.batch_size),
                               "alpaca", args.threads)
        prompts = [gen.prompt(p) for p in prompts_src]
        gen.run_batch(prompts[:2])  # load the model and warm up before timing
        gen.tokens_generated = 0
        batched_s, batched = timed(gen, prompts, gen.plan(prompts))
        tokens = gen.tokens_generated
        single_s, single = timed(gen, prompts, [[i] for i in range(len(prompts))])
        if batched != single:
            differ = sum(a != b for a, b in zip(batched, single))
            raise SystemExit(f"{differ} of {len(prompts)} answers differ between batched and one-at-a-time generation")
    device = "cuda" if torch.cuda.is_available() else f"cpu, {args.threads} threads"
    print(f"{len(prompts)} prompts, {tokens:,} answer tokens, greedy, max {args.max_new_tokens} new tokens ({device})")
    print(f"  one at a time:        {single_s:7.2f} s  {tokens / single_s:8.0f} tokens/s")
    print(f"  batches of {args.batch_size:<3}:       {batched_s:7.2f} s  {tokens / batched_s:8.0f} tokens/s")
    print(f"  ratio: {single_s / batched_s:.1f}x; answers identical")


if __name__ == "__main__":
    main()
