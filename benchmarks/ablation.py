"""Does the adversarial loop pay off? Lion against one-way distillation at an equal budget.

Runs `lion experiment` on the arena (`configs/ablation.yaml`) with every built-in variant on
several seeds, two runs at a time, and prints the table of held-out scores per iteration and
each variant's paired difference from `one-way` and `balanced`; the plot is OUT/scores.png.
Every variant adds the same number of new instructions per iteration, so at each iteration all
students have learned from the same number of examples. The design of the arena world and of
the config is argued in docs/benchmarks.md.

    python benchmarks/ablation.py [--seeds 1,2,3] [--jobs 2] [--out runs/ablation]

Started again with the same --out, finished runs are read back, not redone.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from lion.observe.experiment import BUILT_IN, parse_seeds, parse_variant, run_experiment, to_markdown

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "ablation.yaml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("runs/ablation"))
    ap.add_argument("--variants", default=",".join(BUILT_IN), help="built-in variants, comma-separated")
    args = ap.parse_args()
    variants = [parse_variant(v) for v in args.variants.split(",")]
    start = time.monotonic()
    results, failures = run_experiment(CONFIG, variants, parse_seeds(args.seeds), args.out, args.jobs, None, print)
    print(to_markdown(results))
    print(f"wall time: {(time.monotonic() - start) / 60:.1f} min for {len(variants)} variants x "
          f"{len(results['plan']['seeds'])} seeds, {args.jobs} at a time; plot: {args.out / 'scores.png'}")
    if failures:
        raise SystemExit("\n".join(failures))


if __name__ == "__main__":
    main()
